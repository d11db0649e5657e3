"""Where select writes, export writes and reading loads from, in a clone and installed from a wheel (issue 34).

"Installed" is in_clone() answering False; the user's data folder is a temporary XDG_DATA_HOME.
"""
import pytest

from text_recognizer import run_files


@pytest.fixture
def installed(monkeypatch, tmp_path):
    """Not in a clone, the user's data folder under tmp_path; returns the artifacts folder select would use."""
    monkeypatch.setattr(run_files, "in_clone", lambda: False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data_home"))
    return tmp_path / "data_home" / "text_recognizer" / "artifacts"


def test_in_a_clone_select_writes_and_reading_loads_the_packages_artifacts():
    assert run_files.in_clone()
    assert run_files.default_artifacts_dir() == run_files.ARTIFACTS_DIR
    assert run_files.default_model_path() == run_files.DEFAULT_MODEL_PATH


def test_installed_select_writes_into_the_users_data_folder(installed):
    from text_recognizer.training import save_best_model

    assert run_files.default_artifacts_dir() == installed
    args = save_best_model.build_parser().parse_args(["--local", "--trained_data_class=IAMParagraphs"])
    assert args.artifacts_dir == str(installed)


def test_installed_reading_prefers_a_selected_model_over_the_shipped_one(installed):
    assert run_files.default_model_path() == run_files.DEFAULT_MODEL_PATH  # nothing selected yet
    selected = installed / run_files.PARAGRAPH_RECOGNIZER_DIR / run_files.MODEL_FILE
    selected.parent.mkdir(parents=True)
    selected.write_bytes(b"")
    assert run_files.default_model_path() == selected
    from text_recognizer.api_server.app import Settings

    assert Settings().model_path == selected  # the server's default is read when its settings are made


def test_installed_export_of_the_shipped_model_writes_a_copy_in_the_users_folder(installed, monkeypatch, tmp_path):
    from text_recognizer.training import export_model

    site = tmp_path / "site-packages" / "text_recognizer"  # stands for the installed package
    shipped = site / "artifacts" / run_files.PARAGRAPH_RECOGNIZER_DIR
    shipped.mkdir(parents=True)
    for name in (run_files.MODEL_FILE, run_files.CONFIG_FILE, run_files.MODEL_CARD_FILE):
        (shipped / name).write_text(name)
    monkeypatch.setattr(export_model, "PACKAGE_DIR", site)
    output = export_model.default_output_dir(shipped / run_files.MODEL_FILE)
    assert output == installed / run_files.PARAGRAPH_RECOGNIZER_DIR
    assert sorted(p.name for p in output.iterdir()) == sorted(p.name for p in shipped.iterdir())
    assert run_files.default_model_path() == output / run_files.MODEL_FILE  # reading finds the graphs beside it
    own = tmp_path / "mine" / run_files.MODEL_FILE
    assert export_model.default_output_dir(own) == own.parent  # a model of the user's own: beside it
