"""EMNISTLines: synthetic lines of EMNIST characters, one 28x28 character cell after another."""
from text_recognizer.metadata import emnist, shared

PROCESSED_DATA_DIRNAME = shared.PROCESSED_DATA_DIRNAME / "emnist_lines"

MAPPING = emnist.MAPPING
CHAR_HEIGHT, CHAR_WIDTH = emnist.INPUT_SHAPE  # every character image is 28x28
