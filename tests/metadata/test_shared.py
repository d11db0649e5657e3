"""Paths that messages print: relative to the project inside it, so notebook outputs and logs name no user's folder."""
from pathlib import Path

from text_recognizer.metadata.shared import PROJECT_DIRNAME, processed_dirname, shown_path


def test_paths_inside_the_project_are_shown_relative_to_it(monkeypatch):
    monkeypatch.delenv("TEXT_RECOGNIZER_DATA_DIR", raising=False)
    assert shown_path(processed_dirname("iam_lines")) == str(Path("data", "processed", "iam_lines"))
    assert shown_path(PROJECT_DIRNAME / "notebooks" / ".." / "data") == "data"


def test_other_paths_are_shown_as_given(tmp_path):
    assert shown_path(tmp_path) == str(tmp_path)
    assert shown_path("pages/a.png") == "pages/a.png"
