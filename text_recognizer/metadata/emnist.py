"""EMNIST byclass characters, mapped onto the shared 83-token vocabulary."""
from text_recognizer.metadata import shared

RAW_DATA_DIRNAME = shared.RAW_DATA_DIRNAME / "emnist"
METADATA_FILENAME = RAW_DATA_DIRNAME / "metadata.toml"
DL_DATA_DIRNAME = shared.DOWNLOADED_DATA_DIRNAME / "emnist"
PROCESSED_DATA_DIRNAME = shared.PROCESSED_DATA_DIRNAME / "emnist"
PROCESSED_DATA_FILENAME = PROCESSED_DATA_DIRNAME / "byclass.h5"
ESSENTIALS_FILENAME = shared.DATA_DIRNAME / "emnist_essentials.json"

MAPPING = shared.MAPPING
INPUT_SHAPE = (28, 28)
DIMS = (1, *INPUT_SHAPE)
OUTPUT_DIMS = (1,)
TRAIN_FRAC = 0.8
