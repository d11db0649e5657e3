"""EMNISTLines2: synthetic EMNIST lines shaped like IAM lines (height 56, fixed-width canvas, 89 label tokens)."""
from pathlib import Path

from text_recognizer.metadata import emnist_lines, iam_lines, shared

MAPPING = emnist_lines.MAPPING
IMAGE_HEIGHT = 56  # the 28-pixel characters are centred vertically, as a line crop in IAMLines
IMAGE_WIDTH = 1024
IMAGE_X_PADDING = 28  # the text starts one character cell from the left edge
DIMS = (1, IMAGE_HEIGHT, IMAGE_WIDTH)
MAX_LABEL_LENGTH = iam_lines.MAX_LABEL_LENGTH  # 89 tokens with <S> and <E>, same as IAMLines
OUTPUT_DIMS = (MAX_LABEL_LENGTH, 1)


def processed_dirname() -> Path:
    return shared.processed_dirname("emnist_lines2")
