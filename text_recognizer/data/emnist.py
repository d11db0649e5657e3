"""EMNIST: NIST's handwritten characters as 28x28 images (the byclass split), on the shared 83-token vocabulary.

    python -m text_recognizer.data.emnist [--emnist_archive=PATH]

Fetching, parsing and caching the archive: sources/emnist.py.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import h5py
import numpy as np
import torch
from torchvision import transforms

from text_recognizer.data.base_data_module import BaseDataModule, load_and_print_info
from text_recognizer.data.sources.emnist import (
    archive_path,
    download_emnist,
    process_archive,
    write_essentials,
)
from text_recognizer.data.util import BaseDataset, split_dataset
from text_recognizer.metadata import emnist as metadata
from text_recognizer.metadata.shared import shown_path
from text_recognizer.util import compute_sha256

SPLIT_SEED = 42


class EMNIST(BaseDataModule):
    """EMNIST byclass characters: train/val split 80/20 (seed 42) of NIST's train set; NIST's test set."""

    def __init__(self, args: argparse.Namespace | None = None) -> None:
        super().__init__(args)
        self.archive = archive_path(self.args.get("emnist_archive"))
        self.mapping = metadata.MAPPING
        self.inverse_mapping = {token: index for index, token in enumerate(self.mapping)}
        self.input_dims = metadata.DIMS
        self.output_dims = metadata.OUTPUT_DIMS
        self.transform = transforms.ToTensor()
        self._processed_filename: Path | None = None

    @staticmethod
    def add_to_argparse(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        BaseDataModule.add_to_argparse(parser)
        parser.add_argument(
            "--emnist_archive",
            type=str,
            default=None,
            help=f"an EMNIST-format zip to use instead of the download (default: ${metadata.ARCHIVE_ENV_VAR}, "
            "else data/downloaded/emnist/matlab.zip, downloaded when missing); "
            "`python -m text_recognizer.data.synthetic.fake_emnist PATH` writes a tiny made-up one",
        )
        return parser

    @property
    def processed_filename(self) -> Path:
        """The cache of this archive: the download's has a fixed name, other archives one per content hash."""
        if self._processed_filename is None:
            if self.archive is None:
                self._processed_filename = metadata.processed_filename()
            else:
                if not self.archive.is_file():
                    raise FileNotFoundError(
                        f"EMNIST archive {self.archive} (from --emnist_archive or ${metadata.ARCHIVE_ENV_VAR}) does "
                        "not exist; `python -m text_recognizer.data.synthetic.fake_emnist PATH` writes a tiny made-up one"
                    )
                digest = compute_sha256(self.archive)[:16]
                self._processed_filename = metadata.processed_dirname() / f"byclass-{digest}.h5"
        return self._processed_filename

    def prepare_data(self, *args, **kwargs) -> None:
        if not self.processed_filename.exists():
            archive = self.archive if self.archive is not None else download_emnist()
            process_archive(archive, self.processed_filename)
        if not metadata.essentials_filename().exists():
            write_essentials()

    def setup(self, stage: str | None = None) -> None:
        if not self.processed_filename.exists():
            self.prepare_data()
        with h5py.File(self.processed_filename, "r") as file:
            self.x_trainval, self.y_trainval = file["x_train"][:], file["y_train"][:].astype(np.int64)
            self.x_test, self.y_test = file["x_test"][:], file["y_test"][:].astype(np.int64)
        data_trainval = BaseDataset(self.x_trainval, torch.from_numpy(self.y_trainval), transform=self.transform)
        self.data_train, self.data_val = split_dataset(data_trainval, fraction=metadata.TRAIN_FRAC, seed=SPLIT_SEED)
        self.data_test = BaseDataset(self.x_test, torch.from_numpy(self.y_test), transform=self.transform)

    def __repr__(self) -> str:
        source = shown_path(self.archive) if self.archive is not None else "the NIST download"
        return f"{super().__repr__()}\n  source: {source}"


if __name__ == "__main__":
    load_and_print_info(EMNIST)
