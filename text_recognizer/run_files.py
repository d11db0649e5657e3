"""Where runs and shipped models live and what their files are called.

One owner for the writer (text_recognizer/training/run_experiment.py writes a run folder), the selector
(text_recognizer/training/save_best_model.py copies a run's best checkpoint into an artifacts folder) and the
readers (the recognizer, export_model, the API server):

    training/logs/csv/version_N/            a run folder (./text_recognizer_logs/... outside a clone)
        config.json, run_command.txt        the run's flags and the command that started it
        metrics.csv, hparams.yaml           written by Lightning's CSVLogger
        checkpoints/epoch=...ckpt, last.ckpt   the best epoch's (by the Lightning module's metric), the latest
    text_recognizer/artifacts/paragraph_text_recognizer/
        model.pt, config.json, run_command.txt   what the recognizer loads (and the run it came from)
        MODEL_CARD.md                            its training data, figures, limits and licences

Installed from a wheel (not a clone), the package's artifacts folder is inside site-packages: the shipped
model is read from there, but `select` and `export` write into the user's data folder instead
(~/.local/share/text_recognizer/artifacts on Linux), and reading prefers a paragraph model found there.
"""
from __future__ import annotations

from pathlib import Path

from text_recognizer.metadata.shared import PROJECT_DIRNAME, in_clone, user_data_dirname

PACKAGE_DIR = Path(__file__).resolve().parent
# Runs go to the clone's training/logs; an installed package (no clone, site-packages no place for runs)
# writes them under the working directory, as Lightning's lightning_logs/ does. --log_dir (and
# save_best_model's --local LOG_DIR) override it.
DEFAULT_LOG_DIR = PROJECT_DIRNAME / "training" / "logs" if in_clone() else Path("text_recognizer_logs")
ARTIFACTS_DIR = PACKAGE_DIR / "artifacts"

CSV_LOGGER_NAME = "csv"  # run folders are <log dir>/csv/version_N
CONFIG_FILE = "config.json"
RUN_COMMAND_FILE = "run_command.txt"
METRICS_FILE = "metrics.csv"
CHECKPOINTS_DIR = "checkpoints"
LAST_CHECKPOINT = "last"  # checkpoints/last.ckpt: the latest validation's state, what a resume continues
MODEL_FILE = "model.pt"
MODEL_CARD_FILE = "MODEL_CARD.md"  # what the model is for and how well it reads (save_best_model writes a skeleton)

PARAGRAPH_RECOGNIZER_DIR = "paragraph_text_recognizer"
LINE_RECOGNIZER_DIR = "line_text_recognizer"
DEFAULT_MODEL_PATH = ARTIFACTS_DIR / PARAGRAPH_RECOGNIZER_DIR / MODEL_FILE  # the shipped paragraph model


def default_artifacts_dir() -> Path:
    """Where `select` writes a model and `export` its graphs when not told: the package's artifacts in a
    clone; installed, the user's data folder. Not site-packages, which a user may not be able to write and
    which the next pip install replaces; not the working directory, for reading would then find a selected
    model only from the folder it was selected in; not the data cache (~/.cache), which may be emptied."""
    return ARTIFACTS_DIR if in_clone() else user_data_dirname() / "artifacts"


def default_model_path() -> Path:
    """The paragraph model that reading loads when none is named (read at each call): one that `select`
    (or `export`) wrote into default_artifacts_dir(), else the shipped one. In a clone they are the same."""
    selected = default_artifacts_dir() / PARAGRAPH_RECOGNIZER_DIR / MODEL_FILE
    return selected if selected.is_file() else DEFAULT_MODEL_PATH


def recognizer_dirname(data_class: str) -> str:
    """The artifacts folder of a data class's models: line models and paragraph models are kept apart."""
    return LINE_RECOGNIZER_DIR if "line" in data_class.lower() else PARAGRAPH_RECOGNIZER_DIR


def last_checkpoint(run_dir: Path) -> Path:
    """The checkpoint a resume continues from."""
    return Path(run_dir) / CHECKPOINTS_DIR / f"{LAST_CHECKPOINT}.ckpt"


def best_checkpoint(run_dir: str | Path) -> Path | None:
    """A run's best epoch's checkpoint (last.ckpt only when it is the only one), or None when it has none."""
    checkpoints = sorted((Path(run_dir) / CHECKPOINTS_DIR).glob("*.ckpt"))
    best = [c for c in checkpoints if c.stem != LAST_CHECKPOINT] or checkpoints
    return best[-1] if best else None


def run_dir_of(path: str | Path) -> Path | None:
    """The run folder that `path` is (or holds `path` as one of its checkpoints), judged by its
    run_command.txt; None for anything else (a model.pt, a file from elsewhere)."""
    path = Path(path)
    for candidate in (path, path.parent.parent):
        if (candidate / RUN_COMMAND_FILE).is_file():
            return candidate
    return None
