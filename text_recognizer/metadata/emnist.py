"""EMNIST byclass characters, mapped onto the shared 83-token vocabulary."""
from pathlib import Path

from text_recognizer.metadata import shared

RAW_DATA_DIRNAME = shared.RAW_DATA_DIRNAME / "emnist"
METADATA_FILENAME = RAW_DATA_DIRNAME / "metadata.toml"


def dl_dirname() -> Path:
    return shared.downloaded_dirname("emnist")


def processed_dirname() -> Path:
    return shared.processed_dirname("emnist")


def processed_filename() -> Path:
    """The cache of NIST's own archive (other archives get one per content hash beside it)."""
    return processed_dirname() / "byclass.h5"


def essentials_filename() -> Path:
    return shared.data_dirname() / "emnist_essentials.json"


MAPPING = shared.MAPPING
INPUT_SHAPE = (28, 28)
DIMS = (1, *INPUT_SHAPE)
OUTPUT_DIMS = (1,)
TRAIN_FRAC = 0.8

# NIST's matlab.zip; only the byclass split is used (814,255 characters of 62 unbalanced classes).
MAT_MEMBER = "matlab/emnist-byclass.mat"
# An EMNIST-format zip to use instead of the download (e.g. a tiny made-up one for offline runs).
ARCHIVE_ENV_VAR = "EMNIST_ARCHIVE"
NUM_SPECIAL_TOKENS = len(shared.SPECIAL_TOKENS)
# byclass label k is MAPPING[k + NUM_SPECIAL_TOKENS]: 0-9, A-Z, a-z; the punctuation follows them.
BYCLASS_CHARACTERS = shared.CHARACTERS[:62]
