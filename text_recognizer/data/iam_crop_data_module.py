"""IAMCropDataModule: what the IAM data modules share (flags, the IAM source, a processed cache of crops)."""
from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType

from text_recognizer.data.base_data_module import BaseDataModule
from text_recognizer.data.sources import iam_crops
from text_recognizer.data.sources.iam import IAM
from text_recognizer.metadata.shared import shown_path
from text_recognizer.util import str2bool
from text_recognizer.vocabulary import convert_labels_to_strings, convert_strings_to_labels

AUGMENT_DATA = True
SPLITS = ("train", "val", "test")


class IAMCropDataModule(BaseDataModule):
    """Crops of IAM forms, cut once by prepare_data into a cache and read by setup.

    Subclasses set `metadata` (their metadata module: MAPPING, DIMS, OUTPUT_DIMS, MAX_LABEL_LENGTH,
    processed_dirname()), `crop_kind` (for messages) and implement `crops_by_split()`, `stem(split)`
    and, if they check more than the label lengths, `check_records`.
    """

    metadata: ModuleType
    crop_kind = "crops"

    def __init__(self, args: argparse.Namespace | None = None) -> None:
        super().__init__(args)
        self.augment = self.args.get("augment_data", AUGMENT_DATA)
        self.mapping = self.metadata.MAPPING
        self.input_dims = self.metadata.DIMS
        self.output_dims = self.metadata.OUTPUT_DIMS
        self.iam = IAM.from_args(self.args)  # cheap: nothing is read until it is used

    @staticmethod
    def add_to_argparse(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        BaseDataModule.add_to_argparse(parser)
        IAM.add_to_argparse(parser)
        parser.add_argument(
            "--augment_data", type=str2bool, default=AUGMENT_DATA, help="augment the training set (never val/test)"
        )
        return parser

    @property
    def cache_dirname(self) -> Path:
        # Read from the metadata module at call time, so that tests can point it at a temporary folder.
        return self.metadata.processed_dirname() / self.iam.cache_name

    def ids_by_split(self) -> dict[str, list[str]]:
        return dict(zip(SPLITS, (self.iam.train_ids, self.iam.val_ids, self.iam.test_ids), strict=True))

    def crops_by_split(self) -> dict[str, Iterable[iam_crops.Sample]]:
        """The samples to cache, per split (generators: crops are cut while the cache is written)."""
        raise NotImplementedError

    def stem(self, split: str) -> Callable:
        """The transform of a split's images (augmenting only in training)."""
        raise NotImplementedError

    def check_records(self, records: list[iam_crops.Record], what: str) -> None:
        """Warn about (or refuse) cached crops the stem cannot take as they are; `what`: "<split> <kind>"."""
        iam_crops.check_label_lengths(records, self.metadata.MAX_LABEL_LENGTH, what)

    def setup(self, stage: str | None = None) -> None:
        records = iam_crops.read_cache(self.cache_dirname)
        datasets = {}
        for split in SPLITS:
            self.check_records(records[split], f"{split} {self.crop_kind.rstrip('s')}")
            labels = convert_strings_to_labels([r["label"] for r in records[split]], self.mapping, self.output_dims[0])
            datasets[split] = iam_crops.CropDataset(self.cache_dirname / split, records[split], labels, self.stem(split))
        self.data_train, self.data_val, self.data_test = (datasets[split] for split in SPLITS)

    def prepare_data(self, *args, **kwargs) -> None:
        if iam_crops.cache_exists(self.cache_dirname):
            return
        self.iam.prepare_data()
        print(f"{type(self).__name__}: cropping {self.crop_kind} into {shown_path(self.cache_dirname)} ...")
        iam_crops.write_cache(self.cache_dirname, self.crops_by_split())

    def __repr__(self) -> str:
        text = super().__repr__() + f"\n  source: {self.iam.cache_name}, augment train: {self.augment}"
        if getattr(self, "data_test", None) is not None and self.iam.test_subsets:
            # The offline source's test writers: in training families and in held-out ones, reported apart
            # (training/evaluate_model.py --splits=test_train_family,val,test_unseen_family).
            text += "\n  test subsets: " + ", ".join(f"{name} {len(ids)}" for name, ids in self.iam.test_subsets.items())
        dataset = getattr(self, "data_train", None)
        if dataset is not None and len(dataset):
            text += f"\n  first train label: {convert_labels_to_strings(dataset[0][1][None], self.mapping)[0]!r}"
        return text
