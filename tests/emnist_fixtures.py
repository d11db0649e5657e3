"""Fixtures for the EMNIST family: a tiny made-up EMNIST archive, and every cache redirected to a temp folder.

Import them in a test module: `from emnist_fixtures import _emnist_cache_dir, emnist_paths, tiny_emnist_archive  # noqa: F401`
(tests/ is on sys.path because of its conftest.py; a site-packages `tests` package shadows `tests.*`).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from text_recognizer.data.synthetic.fake_emnist import write_fake_emnist_archive
from text_recognizer.metadata import emnist as emnist_metadata
from text_recognizer.metadata.shared import DATA_DIR_ENV_VAR


@pytest.fixture(scope="session")
def tiny_emnist_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A matlab.zip in NIST's format: 62 classes x 4 train + 2 test made-up characters (372 in all)."""
    return write_fake_emnist_archive(tmp_path_factory.mktemp("emnist_archive") / "matlab.zip")


@pytest.fixture(scope="session")
def _emnist_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("emnist_cache")  # shared by the tests so that each cache is built once


@pytest.fixture
def emnist_paths(monkeypatch: pytest.MonkeyPatch, _emnist_cache_dir: Path, tiny_emnist_archive: Path) -> dict[str, Path]:
    """Downloads, caches and the essentials file under a temp folder; EMNIST_ARCHIVE points at the tiny archive."""
    paths = {
        "archive": tiny_emnist_archive,
        "downloaded": _emnist_cache_dir / "downloaded" / "emnist",
        "processed": _emnist_cache_dir / "processed" / "emnist",
        "essentials": _emnist_cache_dir / "emnist_essentials.json",
    }
    monkeypatch.setenv(DATA_DIR_ENV_VAR, str(_emnist_cache_dir))
    monkeypatch.setenv(emnist_metadata.ARCHIVE_ENV_VAR, str(tiny_emnist_archive))
    return paths
