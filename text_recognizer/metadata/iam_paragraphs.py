"""IAMParagraphs: whole handwritten parts of forms on a 576x640 canvas."""
from pathlib import Path

from text_recognizer.metadata import shared

NEW_LINE_TOKEN = "\n"
MAPPING = shared.MAPPING + [NEW_LINE_TOKEN]  # 84 tokens
assert MAPPING.index(NEW_LINE_TOKEN) == 83

# The paragraph crops are halved again (on top of the archive's own halving).
IMAGE_SCALE_FACTOR = 2
IMAGE_HEIGHT, IMAGE_WIDTH = 576, 640
IMAGE_SHAPE = (IMAGE_HEIGHT, IMAGE_WIDTH)
DIMS = (1, IMAGE_HEIGHT, IMAGE_WIDTH)
MAX_LABEL_LENGTH = 682  # including <S> and <E>
OUTPUT_DIMS = (MAX_LABEL_LENGTH, 1)


def processed_dirname() -> Path:
    return shared.processed_dirname("iam_paragraphs")
