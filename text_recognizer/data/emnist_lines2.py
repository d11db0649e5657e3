"""EMNISTLines2: EMNIST lines made to look like IAM lines, a stepping stone towards IAMLines.

    python -m text_recognizer.data.emnist_lines2 --num_train=100 [--emnist_archive=PATH]

Differences from EMNISTLines, as in the reference: longer lines (up to 43 tokens) with more overlap
(0.2-0.5), the IAM line geometry (a 56-pixel-high, 1024-pixel-wide black canvas; the 28-pixel
characters centred vertically, starting one cell from the left) and IAMLines' label length (89
tokens), and augmentation of the training lines (brightness, small rotation, strong shear, scaling).
"""
from __future__ import annotations

import argparse

from torchvision import transforms

from text_recognizer.data.base_data_module import load_and_print_info
from text_recognizer.data.emnist_lines import EMNISTLines, LineDefaults
from text_recognizer.metadata import emnist_lines as lines_metadata
from text_recognizer.metadata import emnist_lines2 as metadata
from text_recognizer.util import str2bool

MAX_LENGTH = 43  # characters per line plus <S> and <E>: IAM's lines are about this long
MIN_OVERLAP = 0.2
MAX_OVERLAP = 0.5
NUM_TRAIN = 10000
NUM_VAL = 2000
NUM_TEST = 2000
AUGMENT_DATA = True
WITH_START_END_TOKENS = True  # EMNISTLines2 is for sequence models: labels are <S> chars <E> <P>...


class EMNISTLines2(EMNISTLines):
    """IAM-like EMNIST lines: images (1, 56, 1024), labels (89,) tokens; training lines augmented."""

    defaults = LineDefaults(
        max_length=MAX_LENGTH,
        min_overlap=MIN_OVERLAP,
        max_overlap=MAX_OVERLAP,
        num_train=NUM_TRAIN,
        num_val=NUM_VAL,
        num_test=NUM_TEST,
        with_start_end_tokens=WITH_START_END_TOKENS,
    )
    processed_dirname = staticmethod(metadata.processed_dirname)
    x_start = metadata.IMAGE_X_PADDING

    def __init__(self, args: argparse.Namespace | None = None) -> None:
        super().__init__(args)
        self.augment = self.args.get("augment_data", AUGMENT_DATA)
        # The widest line: max_length cells (one more for the padding) at the smallest overlap.
        max_width = int(lines_metadata.CHAR_WIDTH * (self.max_length + 1) * (1 - self.min_overlap)) + self.x_start
        if max_width > metadata.IMAGE_WIDTH:
            raise ValueError(
                f"lines of --max_length={self.max_length} at --min_overlap={self.min_overlap} can be {max_width} "
                f"pixels wide, more than the {metadata.IMAGE_WIDTH}-pixel canvas: lower max_length or raise min_overlap"
            )
        if self.max_length > metadata.MAX_LABEL_LENGTH:
            raise ValueError(f"--max_length={self.max_length} exceeds the label length {metadata.MAX_LABEL_LENGTH}")

    def dims(self) -> tuple[tuple[int, int, int], tuple[int, int]]:
        return metadata.DIMS, metadata.OUTPUT_DIMS

    @classmethod
    def add_to_argparse(cls, parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        super().add_to_argparse(parser)
        parser.add_argument(
            "--augment_data", type=str2bool, default=AUGMENT_DATA, help="augment the training lines (true/false)"
        )
        return parser

    def line_transform(self, augment: bool) -> transforms.Compose:
        """(56, 1024) uint8 array -> (1, 56, 1024) float tensor; for training, the reference's augmentation."""
        if not (augment and self.augment):
            return transforms.Compose([transforms.ToTensor()])
        return transforms.Compose(
            [
                transforms.ToPILImage(),
                transforms.ColorJitter(brightness=(0.5, 1)),
                transforms.RandomAffine(
                    degrees=3,
                    translate=(0, 0.05),
                    scale=(0.4, 1.1),
                    shear=(-40, 50),
                    interpolation=transforms.InterpolationMode.BILINEAR,
                    fill=0,
                ),
                transforms.ToTensor(),
            ]
        )


if __name__ == "__main__":
    load_and_print_info(EMNISTLines2)
