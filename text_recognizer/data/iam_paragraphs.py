"""IAMParagraphs: the handwritten part of each IAM form, on a 576x640 canvas, labelled with its lines.

    python -m text_recognizer.data.iam_paragraphs --iam_source=rendered
"""
from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

from tqdm import tqdm

from text_recognizer.data import iam_crops
from text_recognizer.data.base_data_module import BaseDataModule, load_and_print_info
from text_recognizer.data.iam import IAM
from text_recognizer.data.util import convert_labels_to_strings, convert_strings_to_labels
from text_recognizer.metadata import iam_paragraphs as metadata
from text_recognizer.stems.paragraph import ParagraphStem
from text_recognizer.util import str2bool

AUGMENT_DATA = True
SPLITS = ("train", "val", "test")


class IAMParagraphs(BaseDataModule):
    """Paragraph crops of IAM forms (grayscale, white ink on black, halved again), one per form.

    Only the training set is augmented (random placement, brightness, small rotation and shear);
    validation and test go through the same deterministic transform as inference, so val_cer
    measures what a user will get (the reference augmented validation too).
    """

    def __init__(self, args: argparse.Namespace | None = None) -> None:
        super().__init__(args)
        self.augment = self.args.get("augment_data", AUGMENT_DATA)
        self.mapping = metadata.MAPPING
        self.input_dims = metadata.DIMS
        self.output_dims = metadata.OUTPUT_DIMS
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
        return metadata.PROCESSED_DATA_DIRNAME / self.iam.cache_name

    def prepare_data(self, *args, **kwargs) -> None:
        if iam_crops.cache_exists(self.cache_dirname):
            return
        self.iam.prepare_data()
        print(f"{type(self).__name__}: cropping paragraphs into {self.cache_dirname} ...")
        ids_by_split = dict(zip(SPLITS, (self.iam.train_ids, self.iam.val_ids, self.iam.test_ids), strict=True))
        iam_crops.write_cache(
            self.cache_dirname, {split: paragraph_crops(self.iam, ids, split) for split, ids in ids_by_split.items()}
        )

    def setup(self, stage: str | None = None) -> None:
        records = iam_crops.read_cache(self.cache_dirname)
        datasets = {}
        for split in SPLITS:
            iam_crops.check_label_lengths(records[split], metadata.MAX_LABEL_LENGTH, f"{split} paragraph")
            iam_crops.warn_if_bigger_than(records[split], *metadata.IMAGE_SHAPE, f"{split} paragraph")
            labels = convert_strings_to_labels([r["label"] for r in records[split]], self.mapping, self.output_dims[0])
            stem = ParagraphStem(augment=self.augment and split == "train")
            datasets[split] = iam_crops.CropDataset(self.cache_dirname / split, records[split], labels, stem)
        self.data_train, self.data_val, self.data_test = (datasets[split] for split in SPLITS)

    def __repr__(self) -> str:
        text = super().__repr__()
        dataset = getattr(self, "data_train", None)
        text += f"\n  source: {self.iam.cache_name}, augment train: {self.augment}"
        if dataset is not None and len(dataset):
            text += f"\n  first train label: {convert_labels_to_strings(dataset[0][1][None], self.mapping)[0]!r}"
        return text


def paragraph_crops(iam: IAM, form_ids: list[str], split: str) -> Iterator[iam_crops.Sample]:
    """(form id, paragraph image, paragraph text) for each form: the union of its line regions,
    white ink on black, halved (metadata.IMAGE_SCALE_FACTOR) so that a page fits the canvas."""
    for form_id in tqdm(form_ids, desc=f"paragraphs ({split})", disable=None):
        form = iam_crops.read_form_image(iam.form_filenames_by_id[form_id])
        crop = iam_crops.crop_region(form, iam.paragraph_region_by_id[form_id])
        yield form_id, iam_crops.downscale(crop, metadata.IMAGE_SCALE_FACTOR), iam.paragraph_string_by_id[form_id]


if __name__ == "__main__":
    load_and_print_info(IAMParagraphs)
