"""Paths and the vocabulary shared by every dataset."""
from pathlib import Path

PROJECT_DIRNAME = Path(__file__).resolve().parents[2]
DATA_DIRNAME = PROJECT_DIRNAME / "data"
DOWNLOADED_DATA_DIRNAME = DATA_DIRNAME / "downloaded"
RAW_DATA_DIRNAME = DATA_DIRNAME / "raw"
PROCESSED_DATA_DIRNAME = DATA_DIRNAME / "processed"

BLANK_TOKEN, START_TOKEN, END_TOKEN, PADDING_TOKEN = "<B>", "<S>", "<E>", "<P>"
SPECIAL_TOKENS = [BLANK_TOKEN, START_TOKEN, END_TOKEN, PADDING_TOKEN]
# The 79 characters of IAM (and of EMNIST's byclass set plus punctuation); space is index 66.
CHARACTERS = (
    [str(d) for d in range(10)]
    + [chr(c) for c in range(ord("A"), ord("Z") + 1)]
    + [chr(c) for c in range(ord("a"), ord("z") + 1)]
    + list(" !\"#&'()*+,-./:;?")
)
MAPPING = SPECIAL_TOKENS + CHARACTERS  # 83 tokens
assert len(MAPPING) == 83 and MAPPING.index(" ") == 66
