"""IAMParagraphs: the handwritten part of each IAM form (at most 576x640), labelled with its lines.

    python -m text_recognizer.data.iam_paragraphs --iam_source=rendered
"""
from __future__ import annotations

import argparse
from collections.abc import Iterable, Iterator

from tqdm import tqdm

from text_recognizer.data.base_data_module import load_and_print_info
from text_recognizer.data.batching import BatchingOptions, ContentSizedLoaders
from text_recognizer.data.iam_crop_data_module import IAMCropDataModule
from text_recognizer.data.sources import iam_crops
from text_recognizer.data.sources.iam import IAM
from text_recognizer.data.synthetic.photo_effects import add_photo_augment_flag, photo_augment
from text_recognizer.metadata import iam_paragraphs as metadata
from text_recognizer.stems.paragraph import ELASTIC_DISPLACEMENT, ParagraphStem, add_augmentation_flags


class IAMParagraphs(ContentSizedLoaders, IAMCropDataModule):
    """Paragraph crops of IAM forms (grayscale, white ink on black, halved again), one per form.

    Batches are padded to their own largest image (`--fixed_canvas=true`: the reference's 576x640
    canvas) and follow `--curriculum` (see batching.py). Only the training set is augmented (scale,
    pen width, blur, margins, brightness, small rotation and shear); validation and test go through
    the same deterministic transform as inference, so val_cer measures what a user will get (the
    reference augmented validation too).
    """

    metadata = metadata
    crop_kind = "paragraphs"

    def __init__(self, args: argparse.Namespace | None = None) -> None:
        super().__init__(args)
        self.batching = BatchingOptions.from_args(self.args)

    @staticmethod
    def add_to_argparse(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        IAMCropDataModule.add_to_argparse(parser)
        add_augmentation_flags(parser)
        add_photo_augment_flag(parser)
        return BatchingOptions.add_to_argparse(parser)

    def crops_by_split(self) -> dict[str, Iterable[iam_crops.Sample]]:
        return {split: paragraph_crops(self.iam, ids, split) for split, ids in self.ids_by_split().items()}

    def stem(self, split: str) -> ParagraphStem:
        return ParagraphStem(augment=self.augment and split == "train", fixed_canvas=self.batching.fixed_canvas,
                             elastic_displacement=self.args.get("elastic_displacement", ELASTIC_DISPLACEMENT),
                             line_pitch=self.line_pitch, photo=photo_augment(self.args))

    def check_records(self, records: list[iam_crops.Record], what: str) -> None:
        super().check_records(records, what)
        iam_crops.warn_if_bigger_than(records, *metadata.IMAGE_SHAPE, what)


def paragraph_crops(iam: IAM, form_ids: list[str], split: str) -> Iterator[iam_crops.Sample]:
    """(form id, paragraph image, paragraph text) for each form: the union of its line regions,
    white ink on black, halved (metadata.IMAGE_SCALE_FACTOR) so that a page fits the canvas."""
    for form_id in tqdm(form_ids, desc=f"paragraphs ({split})", disable=None):
        form = iam_crops.read_form_image(iam.form_filenames_by_id[form_id])
        crop = iam_crops.crop_region(form, iam.paragraph_region_by_id[form_id])
        yield form_id, iam_crops.downscale(crop, metadata.IMAGE_SCALE_FACTOR), iam.paragraph_string_by_id[form_id]


if __name__ == "__main__":
    load_and_print_info(IAMParagraphs)
