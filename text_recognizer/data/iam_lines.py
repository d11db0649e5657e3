"""IAMLines: every handwritten line of IAM, resized to height 56 on a fixed-width canvas.

    python -m text_recognizer.data.iam_lines --iam_source=rendered
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator

from tqdm import tqdm

from text_recognizer.data.base_data_module import load_and_print_info
from text_recognizer.data.iam_crop_data_module import IAMCropDataModule
from text_recognizer.data.sources import iam_crops
from text_recognizer.data.sources.iam import IAM
from text_recognizer.metadata import iam_lines as metadata
from text_recognizer.stems.line import IAMLineStem


class IAMLines(IAMCropDataModule):
    """Line crops (grayscale, white ink on black) of IAM forms, labelled with the line's text.

    Only the training set is augmented (width stretch, brightness, small rotation and shear).
    """

    metadata = metadata
    crop_kind = "lines"

    def crops_by_split(self) -> dict[str, Iterable[iam_crops.Sample]]:
        return {split: line_crops(self.iam, ids, split) for split, ids in self.ids_by_split().items()}

    def stem(self, split: str) -> IAMLineStem:
        return IAMLineStem(augment=self.augment and split == "train")

    def check_records(self, records: list[iam_crops.Record], what: str) -> None:
        super().check_records(records, what)
        warn_if_wider_than_canvas(records, what)


def warn_if_wider_than_canvas(records: list[iam_crops.Record], what: str) -> None:
    """Lines that, at height IMAGE_HEIGHT, are wider than the canvas get squeezed horizontally: say which."""
    wide = [r for r in records if r["width"] * metadata.IMAGE_HEIGHT / max(r["height"], 1) > metadata.IMAGE_WIDTH]
    iam_crops.warn_naming(wide, f"{what} images are wider than the {metadata.IMAGE_WIDTH}-pixel canvas once resized "
                                f"to height {metadata.IMAGE_HEIGHT} and will be squeezed horizontally to fit")


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
