"""IAMLines: every handwritten line of IAM, resized to height 56 on a fixed-width canvas.

    python -m text_recognizer.data.iam_lines --iam_source=rendered
"""
from __future__ import annotations

import argparse
import warnings
from collections.abc import Iterator
from pathlib import Path

from tqdm import tqdm

from text_recognizer.data import iam_crops
from text_recognizer.data.base_data_module import BaseDataModule, load_and_print_info
from text_recognizer.data.iam import IAM
from text_recognizer.data.util import convert_labels_to_strings, convert_strings_to_labels
from text_recognizer.metadata import iam_lines as metadata
from text_recognizer.stems.line import IAMLineStem
from text_recognizer.util import str2bool

AUGMENT_DATA = True
SPLITS = ("train", "val", "test")


class IAMLines(BaseDataModule):
    """Line crops (grayscale, white ink on black) of IAM forms, labelled with the line's text.

    Only the training set is augmented (width stretch, brightness, small rotation and shear).
    """

    def __init__(self, args: argparse.Namespace | None = None) -> None:
        super().__init__(args)
        self.augment = self.args.get("augment_data", AUGMENT_DATA)
        self.mapping = metadata.MAPPING
        self.input_dims = metadata.DIMS
        self.output_dims = metadata.OUTPUT_DIMS
        self.iam = IAM.from_args(self.args)

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
        print(f"{type(self).__name__}: cropping lines into {self.cache_dirname} ...")
        ids_by_split = dict(zip(SPLITS, (self.iam.train_ids, self.iam.val_ids, self.iam.test_ids), strict=True))
        iam_crops.write_cache(
            self.cache_dirname, {split: line_crops(self.iam, ids, split) for split, ids in ids_by_split.items()}
        )

    def setup(self, stage: str | None = None) -> None:
        records = iam_crops.read_cache(self.cache_dirname)
        datasets = {}
        for split in SPLITS:
            iam_crops.check_label_lengths(records[split], metadata.MAX_LABEL_LENGTH, f"{split} line")
            warn_if_wider_than_canvas(records[split], f"{split} line")
            labels = convert_strings_to_labels([r["label"] for r in records[split]], self.mapping, self.output_dims[0])
            stem = IAMLineStem(augment=self.augment and split == "train")
            datasets[split] = iam_crops.CropDataset(self.cache_dirname / split, records[split], labels, stem)
        self.data_train, self.data_val, self.data_test = (datasets[split] for split in SPLITS)

    def __repr__(self) -> str:
        text = super().__repr__() + f"\n  source: {self.iam.cache_name}, augment train: {self.augment}"
        dataset = getattr(self, "data_train", None)
        if dataset is not None and len(dataset):
            text += f"\n  first train label: {convert_labels_to_strings(dataset[0][1][None], self.mapping)[0]!r}"
        return text


def warn_if_wider_than_canvas(records: list[iam_crops.Record], what: str) -> None:
    """Lines that, at height IMAGE_HEIGHT, are wider than the canvas get squeezed horizontally: say which."""
    wide = [r for r in records if r["width"] * metadata.IMAGE_HEIGHT / max(r["height"], 1) > metadata.IMAGE_WIDTH]
    if wide:
        names = ", ".join(f"{r['id']} ({r['width']}x{r['height']})" for r in wide[:5])
        warnings.warn(
            f"{len(wide)} {what} images are wider than the {metadata.IMAGE_WIDTH}-pixel canvas once resized to height "
            f"{metadata.IMAGE_HEIGHT} and will be squeezed horizontally to fit: {names}{', ...' if len(wide) > 5 else ''}",
            stacklevel=2,
        )


def line_crops(iam: IAM, form_ids: list[str], split: str, scale_factor: int = 1) -> Iterator[iam_crops.Sample]:
    """("<form id>-<line number>", line image, line text) for every line of the forms: the line's
    region (already padded, in the stored image's pixels), white ink on black, divided by `scale_factor`."""
    for form_id in tqdm(form_ids, desc=f"lines ({split})", disable=None):
        form = iam_crops.read_form_image(iam.form_filenames_by_id[form_id])
        regions, strings = iam.line_regions_by_id[form_id], iam.line_strings_by_id[form_id]
        for number, (region, text) in enumerate(zip(regions, strings, strict=True)):
            crop = iam_crops.crop_region(form, region)
            if scale_factor != 1:
                crop = iam_crops.downscale(crop, scale_factor)
            yield f"{form_id}-{number:02d}", crop, text


if __name__ == "__main__":
    load_and_print_info(IAMLines)
