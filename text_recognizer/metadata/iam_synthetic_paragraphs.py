"""IAMSyntheticParagraphs: paragraphs composed from real IAM line crops."""
from pathlib import Path

from text_recognizer.metadata import iam_paragraphs, shared

MAPPING = iam_paragraphs.MAPPING
DIMS = iam_paragraphs.DIMS
OUTPUT_DIMS = iam_paragraphs.OUTPUT_DIMS
MAX_LABEL_LENGTH = iam_paragraphs.MAX_LABEL_LENGTH
# Partitions of all lines into groups of these sizes, on top of every line alone.
GROUP_SIZE_RANGES = ((2, 4), (2, 9), (5, 9))


def processed_dirname() -> Path:
    return shared.processed_dirname("iam_synthetic_paragraphs")
