"""IAMLines: line crops on a fixed-width canvas."""
from pathlib import Path

from text_recognizer.metadata import iam, shared

MAPPING = shared.MAPPING
CHAR_HEIGHT = 56  # line crops are resized to this height, keeping their aspect ratio
IMAGE_HEIGHT = CHAR_HEIGHT
IMAGE_WIDTH = 1024  # the canvas width (the reference used 1024, later 2048)
DIMS = (1, IMAGE_HEIGHT, IMAGE_WIDTH)
MAX_LABEL_LENGTH = 89  # including <S> and <E>
OUTPUT_DIMS = (MAX_LABEL_LENGTH, 1)
DOWNSAMPLE_FACTOR = iam.DOWNSAMPLE_FACTOR


def processed_dirname() -> Path:
    return shared.processed_dirname("iam_lines")
