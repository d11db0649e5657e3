"""The raw IAM dataset: where it lives and how its coordinates relate to the stored images."""
from pathlib import Path

from text_recognizer.metadata import shared

RAW_DATA_DIRNAME = shared.RAW_DATA_DIRNAME / "iam"
METADATA_FILENAME = RAW_DATA_DIRNAME / "metadata.toml"
EXTRACTED_DATASET_NAME = "iamdb"  # the archive's top folder, extracted beside it

# The archive's form images are stored at half the resolution of the XML coordinates.
DOWNSAMPLE_FACTOR = 2
LINE_REGION_PADDING = 16  # pixels added on every side of a line's union of cmp boxes

# Where the data comes from: the real archive, or the offline handwriting renderer (explicit opt-in).
SOURCES = ("iam", "rendered")
DEFAULT_SOURCE = "iam"


def dl_dirname() -> Path:
    """Where the archive is downloaded (or placed by hand) and extracted."""
    return shared.downloaded_dirname("iam")
