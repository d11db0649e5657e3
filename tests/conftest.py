"""Shared test settings: no network, no W&B account, small thread counts."""
import os
import sys
from pathlib import Path

# Before anything imports wandb: tests log nowhere (a test that needs W&B files sets offline itself).
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("WANDB_SILENT", "true")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # `training` is a folder of scripts, importable from the repo root


# ---- Tiny offline IAM (the "rendered" source), shared by the IAM data module and notebook tests.
import argparse  # noqa: E402

import pytest  # noqa: E402

TINY_IAM_FLAGS = {"iam_source": "rendered", "iam_rendered_forms": 8, "iam_rendered_writers": 2}  # 3 s to render


@pytest.fixture(scope="session")
def tiny_iam_dirs(tmp_path_factory) -> dict[str, Path]:
    """Session folders for the tiny rendered IAM tree and its processed caches (built once, reused)."""
    root = tmp_path_factory.mktemp("tiny_iam")
    return {"downloaded": root / "downloaded", "processed": root / "processed"}


def point_iam_paths_at(monkeypatch: pytest.MonkeyPatch, downloaded: Path, processed: Path) -> None:
    """Make the rendered IAM tree and every IAM processed cache live under the given folders."""
    from text_recognizer.data import iam_rendered
    from text_recognizer.metadata import iam_lines, iam_paragraphs, iam_synthetic_paragraphs

    monkeypatch.setattr(iam_rendered, "RENDERED_DL_DIRNAME", downloaded)
    for module in (iam_lines, iam_paragraphs, iam_synthetic_paragraphs):
        monkeypatch.setattr(module, "PROCESSED_DATA_DIRNAME", processed / module.__name__.rsplit(".", 1)[-1])


@pytest.fixture
def tiny_iam_args(tiny_iam_dirs, monkeypatch) -> argparse.Namespace:
    """Flags for an IAM data module on the tiny rendered IAM, with all its data in the session's temp folder."""
    point_iam_paths_at(monkeypatch, tiny_iam_dirs["downloaded"], tiny_iam_dirs["processed"])
    return argparse.Namespace(**TINY_IAM_FLAGS, batch_size=4, num_workers=0)
