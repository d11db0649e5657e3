"""EMNIST: NIST's handwritten characters as 28x28 images (the byclass split), on the shared 83-token vocabulary.

    python -m text_recognizer.data.emnist [--emnist_archive=PATH]

Where the characters come from, in order: `--emnist_archive=PATH` (or the environment variable
EMNIST_ARCHIVE), else `data/downloaded/emnist/matlab.zip`, downloaded from the URL in
`data/raw/emnist/metadata.toml` when missing. Any EMNIST-format zip works; for offline runs,
`python -m text_recognizer.data.fake_emnist PATH` writes a tiny made-up one.

Processing (once, cached in data/processed/emnist/): parse `matlab/emnist-byclass.mat`, shift its
labels by the 4 special tokens so that they index the shared mapping, keep at most the mean count of
samples per class (the reference did this to shrink the data and balance it), store everything in
an HDF5 file, and write the mapping to data/emnist_essentials.json.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import scipy.io
import toml
import torch
from torchvision import transforms

from text_recognizer.data.base_data_module import BaseDataModule, load_and_print_info
from text_recognizer.data.util import BaseDataset, split_dataset
from text_recognizer.metadata import emnist as metadata
from text_recognizer.metadata import shared
from text_recognizer.util import (
    DataUnavailableError,
    DownloadError,
    atomic_path,
    compute_sha256,
    download_url,
)

SAMPLE_TO_BALANCE = True  # keep at most the mean number of samples per class
BALANCE_SEED = 42
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
            "`python -m text_recognizer.data.fake_emnist PATH` writes a tiny made-up one",
        )
        return parser

    @property
    def processed_filename(self) -> Path:
        """The cache of this archive: the download's has a fixed name, other archives one per content hash."""
        if self._processed_filename is None:
            if self.archive is None:
                self._processed_filename = metadata.PROCESSED_DATA_FILENAME
            else:
                if not self.archive.is_file():
                    raise FileNotFoundError(
                        f"EMNIST archive {self.archive} (from --emnist_archive or ${metadata.ARCHIVE_ENV_VAR}) does "
                        "not exist; `python -m text_recognizer.data.fake_emnist PATH` writes a tiny made-up one"
                    )
                digest = compute_sha256(self.archive)[:16]
                self._processed_filename = metadata.PROCESSED_DATA_DIRNAME / f"byclass-{digest}.h5"
        return self._processed_filename

    def prepare_data(self, *args, **kwargs) -> None:
        if not self.processed_filename.exists():
            archive = self.archive if self.archive is not None else download_emnist()
            process_archive(archive, self.processed_filename)
        if not metadata.ESSENTIALS_FILENAME.exists():
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
        source = self.archive if self.archive is not None else "the NIST download"
        return f"{super().__repr__()}\n  source: {source}"


def archive_path(flag_value: str | None) -> Path | None:
    """The EMNIST-format zip to use instead of the download: the flag, else the environment variable, else None."""
    value = flag_value or os.environ.get(metadata.ARCHIVE_ENV_VAR)
    return Path(value).expanduser().resolve() if value else None


def download_emnist() -> Path:
    """NIST's matlab.zip in data/downloaded/emnist/: used as is when already there, downloaded otherwise."""
    info = toml.load(metadata.METADATA_FILENAME)
    filename = metadata.DL_DATA_DIRNAME / info["filename"]
    if filename.exists():
        actual = compute_sha256(filename)
        if actual != info["sha256"]:
            raise DataUnavailableError(
                f"{filename} does not match its checksum (sha256 {actual}, expected {info['sha256']}): "
                "remove it to download it again, or replace it with NIST's matlab.zip"
            )
        return filename
    print(f"Downloading EMNIST ({info['url']}, about 700 MB) to {filename}...")
    try:
        return download_url(info["url"], filename, sha256=info["sha256"])
    except DownloadError as error:
        raise DataUnavailableError(
            f"EMNIST could not be downloaded from {info['url']}: {error}. Either place NIST's {info['filename']} "
            f"(sha256 {info['sha256']}) in {metadata.DL_DATA_DIRNAME}/, or point --emnist_archive (or "
            f"${metadata.ARCHIVE_ENV_VAR}) at an EMNIST-format zip; for an offline try-out, "
            "`python -m text_recognizer.data.fake_emnist data/downloaded/emnist_fake/matlab.zip` writes a tiny one."
        ) from error


def parse_emnist_mat(mat_bytes: bytes) -> dict[str, Any]:
    """Arrays of an emnist-byclass.mat: x_* (N, 28, 28) uint8 upright, y_* (N,) indices into the shared mapping."""
    try:
        # A MATLAB struct loads as a (1, 1) record array: [0, 0] is the struct itself, its fields arrays.
        dataset = scipy.io.loadmat(io.BytesIO(mat_bytes))["dataset"][0, 0]
    except (ValueError, NotImplementedError, KeyError) as error:
        raise ValueError(f"{metadata.MAT_MEMBER} is not NIST's byclass MATLAB file (a struct `dataset`): {error}") from error
    mapping = dataset["mapping"].astype(np.int64)  # (62, 2): byclass label, character code
    characters = [chr(code) for _, code in sorted(mapping.tolist())]
    if characters != list(metadata.BYCLASS_CHARACTERS):
        raise ValueError(f"unexpected EMNIST byclass mapping {''.join(characters)!r}; expected 0-9, A-Z, a-z")
    # The reference's vocabulary: special tokens, the byclass characters, then IAM's punctuation.
    full_mapping = shared.SPECIAL_TOKENS + characters + shared.CHARACTERS[len(characters) :]
    assert full_mapping == metadata.MAPPING, "EMNIST characters no longer line up with the shared mapping"
    arrays = {}
    for split in ("train", "test"):
        images = dataset[split][0, 0]["images"]  # (N, 784) uint8, each image stored transposed
        arrays[f"x_{split}"] = np.ascontiguousarray(images.reshape(-1, 28, 28).swapaxes(1, 2))  # (N, 28, 28)
        labels = dataset[split][0, 0]["labels"]  # (N, 1)
        arrays[f"y_{split}"] = labels.reshape(-1).astype(np.int64) + metadata.NUM_SPECIAL_TOKENS
    return arrays


def sample_to_balance(x: np.ndarray, y: np.ndarray, seed: int = BALANCE_SEED) -> tuple[np.ndarray, np.ndarray]:
    """At most the mean per-class count of samples of each class, drawn without replacement, in label order.

    The reference drew that many indices *with* replacement and kept the unique ones, and its mean
    also counted the 4 empty special-token classes; this keeps its intent (balance and shrink).
    """
    rng = np.random.default_rng(seed)
    labels, counts = np.unique(y, return_counts=True)
    keep = int(counts.mean())
    chosen = [np.sort(rng.permutation(np.flatnonzero(y == label))[:keep]) for label in labels]
    indices = np.concatenate(chosen)
    return x[indices], y[indices]


def process_archive(archive: Path, processed_filename: Path) -> None:
    """Unzip, parse, balance and cache EMNIST as HDF5 (written under a temporary name, then renamed)."""
    print(f"Processing EMNIST from {archive}...")
    try:
        with zipfile.ZipFile(archive) as zipped:
            mat_bytes = zipped.read(metadata.MAT_MEMBER)
    except (zipfile.BadZipFile, KeyError) as error:
        raise ValueError(f"{archive} is not an EMNIST archive: a zip holding {metadata.MAT_MEMBER} ({error})") from error
    arrays = parse_emnist_mat(mat_bytes)
    del mat_bytes
    if SAMPLE_TO_BALANCE:
        for split in ("train", "test"):
            arrays[f"x_{split}"], arrays[f"y_{split}"] = sample_to_balance(arrays[f"x_{split}"], arrays[f"y_{split}"])
    with atomic_path(processed_filename) as temp, h5py.File(temp, "w") as file:
        for name, array in arrays.items():
            file.create_dataset(name, data=array, dtype="u1", compression="lzf")
    write_essentials()


def write_essentials() -> None:
    """data/emnist_essentials.json: what other modules need to know about EMNIST without its download."""
    essentials = {"characters": list(metadata.MAPPING), "input_shape": list(metadata.INPUT_SHAPE)}
    with atomic_path(metadata.ESSENTIALS_FILENAME) as temp:
        temp.write_text(json.dumps(essentials) + "\n")


if __name__ == "__main__":
    load_and_print_info(EMNIST)
