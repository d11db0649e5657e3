"""MNIST digits."""
from pathlib import Path

from text_recognizer.metadata import shared

DIMS = (1, 28, 28)
OUTPUT_DIMS = (1,)
MAPPING = list(range(10))
TRAIN_SIZE = 55000
VAL_SIZE = 5000


def dl_dirname() -> Path:
    return shared.downloaded_dirname("mnist")
