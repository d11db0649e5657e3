"""Paths and the vocabulary shared by every dataset."""
import os
from pathlib import Path

PACKAGE_DIRNAME = Path(__file__).resolve().parents[1]
PROJECT_DIRNAME = PACKAGE_DIRNAME.parent  # a clone's root when the package runs from a clone
# The datasets' own facts (URLs, checksums, test lists) ship inside the package, so that an installed
# wheel has them too: text_recognizer/metadata/raw/<dataset>/metadata.toml.
RAW_DATA_DIRNAME = PACKAGE_DIRNAME / "metadata" / "raw"
# Downloads and caches go under one folder, the project's data/ in a clone (the user's cache folder
# for an installed package) unless this variable names another (a larger disk, a shared cache, a
# test's temporary folder): the one setting for where data lives.
DATA_DIR_ENV_VAR = "TEXT_RECOGNIZER_DATA_DIR"
APP_NAME = "text_recognizer"


def in_clone() -> bool:
    """Whether the package runs from a clone of the project (an editable install, PYTHONPATH), where data
    and runs have folders of their own; False for a package installed from a wheel into site-packages."""
    return (PROJECT_DIRNAME / "pyproject.toml").is_file() and (PROJECT_DIRNAME / "training").is_dir()


def user_cache_dirname() -> Path:
    """The user's cache folder for the package: platformdirs' where installed, else $XDG_CACHE_HOME (or
    ~/.cache) / text_recognizer, which is what platformdirs answers on Linux."""
    try:
        import platformdirs
    except ImportError:
        return Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / APP_NAME
    return Path(platformdirs.user_cache_dir(APP_NAME))


def user_data_dirname() -> Path:
    """The user's data folder for the package (what they made, not a cache): platformdirs' where installed,
    else $XDG_DATA_HOME (or ~/.local/share) / text_recognizer, which is what platformdirs answers on Linux."""
    try:
        import platformdirs
    except ImportError:
        return Path(os.environ.get("XDG_DATA_HOME") or "~/.local/share").expanduser() / APP_NAME
    return Path(platformdirs.user_data_dir(APP_NAME))


def data_dirname() -> Path:
    """The folder of downloads and caches (read at each call): $TEXT_RECOGNIZER_DATA_DIR, else the clone's
    data/, else (an installed package, where data/ would be inside site-packages) the user's cache folder."""
    value = os.environ.get(DATA_DIR_ENV_VAR)
    if value:
        return Path(value).expanduser().resolve()
    return PROJECT_DIRNAME / "data" if in_clone() else user_cache_dirname()


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
