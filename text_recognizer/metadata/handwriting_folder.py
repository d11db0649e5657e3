"""HandwritingFolder: users' own transcribed images (image+txt, manifests, PAGE XML, ALTO)."""
from pathlib import Path

from text_recognizer.metadata import shared

CACHE_VERSION = 2  # bump when the crops or the records change, so that old caches are not reused

UNITS = ("paragraph", "line")  # a sample is a text region (lines joined by "\n") or one text line
STEMS = ("paragraph", "line")  # ParagraphStem (content-sized, 576x640 at most) or IAMLineStem (56x1024)
UNKNOWN_CHARS = ("error", "drop", "replace")
SPLIT_FOLDERS = ("train", "val", "test")
MANIFEST_FILENAMES = ("labels.jsonl", "labels.csv")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
VAL_FRACTION = 0.1
TEST_FRACTION = 0.1
SPLIT_SEED = 42


def processed_dirname() -> Path:
    return shared.processed_dirname("handwriting_folder")
