"""EMNISTLines: synthetic lines of EMNIST characters, one 28x28 character cell after another."""
from pathlib import Path

from text_recognizer.metadata import emnist, shared

MAPPING = emnist.MAPPING
CHAR_HEIGHT, CHAR_WIDTH = emnist.INPUT_SHAPE  # every character image is 28x28


def processed_dirname() -> Path:
    return shared.processed_dirname("emnist_lines")
