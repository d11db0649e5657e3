"""Paths and the vocabulary shared by every dataset."""
import os
from pathlib import Path

PROJECT_DIRNAME = Path(__file__).resolve().parents[2]
# The datasets' own facts (URLs, checksums, test lists) are part of the project, always here.
RAW_DATA_DIRNAME = PROJECT_DIRNAME / "data" / "raw"
# Downloads and caches go under one folder, the project's data/ unless this variable names another
# (a larger disk, a shared cache, a test's temporary folder): the one setting for where data lives.
DATA_DIR_ENV_VAR = "TEXT_RECOGNIZER_DATA_DIR"


def data_dirname() -> Path:
    """The folder of downloads and caches: $TEXT_RECOGNIZER_DATA_DIR, else the project's data/ (read at each call)."""
    value = os.environ.get(DATA_DIR_ENV_VAR)
    return Path(value).expanduser().resolve() if value else PROJECT_DIRNAME / "data"


def downloaded_dirname(name: str) -> Path:
    """Where dataset `name`'s download (or rendered tree) lives: <data dir>/downloaded/<name>."""
    return data_dirname() / "downloaded" / name


def processed_dirname(name: str) -> Path:
    """Where caches made from dataset `name` live: <data dir>/processed/<name>."""
    return data_dirname() / "processed" / name


def shown_path(path: str | os.PathLike) -> str:
    """`path` as messages print it: relative to the project when inside it, else as given. Printed
    messages end up in notebook outputs and logs, which should not carry the folder a clone lives in."""
    path = Path(path)
    resolved = path.resolve()
    candidates = [Path(os.path.normpath(path)), resolved]
    # data/downloaded or data/processed may be links to a larger disk: a path there is named by the link.
    for name in ("downloaded", "processed"):
        link = data_dirname() / name
        if resolved.is_relative_to(link.resolve()):
            candidates.append(link / resolved.relative_to(link.resolve()))
    for candidate in candidates:
        if candidate.is_absolute() and candidate.is_relative_to(PROJECT_DIRNAME):
            return str(candidate.relative_to(PROJECT_DIRNAME))
    return str(path)

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
