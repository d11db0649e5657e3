"""Every notebook runs top to bottom without errors (outputs are not compared and not written back).

The notebooks run offline on small made-up data: each one's first cells say where its data comes from.
"""
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"
NOTEBOOKS = [
    "01-look-at-emnist",
    "02-look-at-emnist-lines",
    "02b-look-at-emnist-lines2",
    "03-look-at-iam-lines",
    "04-look-at-iam-paragraphs",
    "05-train-on-your-own-data",
]
IAM_NOTEBOOKS = {"03-look-at-iam-lines", "04-look-at-iam-paragraphs", "05-train-on-your-own-data"}
OWN_DATA_NOTEBOOKS = {"05-train-on-your-own-data"}
TIMEOUT_S = 300  # per cell


def tiny_iam_cell(dirs: dict[str, Path], args) -> nbformat.NotebookNode:
    """Code that points the notebook at the tests' tiny rendered IAM (conftest's, in a temporary folder)."""
    flags = [f"--{key}={value}" for key, value in vars(args).items() if key.startswith("iam_")]
    return nbformat.v4.new_code_cell(
        "# Injected by tests/notebooks/test_notebooks.py: the tests' tiny rendered IAM, in a temporary folder.\n"
        "import os\n"
        f"os.environ['TEXT_RECOGNIZER_DATA_DIR'] = {str(dirs['root'])!r}\n"
        f"IAM_FLAGS = {flags!r}"
    )


def own_data_cell(root: Path) -> nbformat.NotebookNode:
    """Code that writes the notebook's own folder (and HandwritingFolder's cache of it) under `root`."""
    return nbformat.v4.new_code_cell(
        "# Injected by tests/notebooks/test_notebooks.py: the notebook's folder and its cache, in a temporary folder.\n"
        "import os\n"
        f"os.environ['TEXT_RECOGNIZER_DATA_DIR'] = {str(root)!r}\n"
        f"FOLDER_NAME = {str(root / 'pages')!r}  # absolute: ROOT / FOLDER_NAME is this folder"
    )


def inject_after_parameters(notebook: nbformat.NotebookNode, cell: nbformat.NotebookNode) -> None:
    """Insert `cell` after the cell tagged "parameters" (papermill's convention), overriding its values."""
    for index, existing in enumerate(notebook.cells):
        if "parameters" in existing.metadata.get("tags", []):
            notebook.cells.insert(index + 1, cell)
            return
    raise AssertionError("the notebook has no cell tagged 'parameters'")


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs(name, monkeypatch, request):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    path = NOTEBOOK_DIR / f"{name}.ipynb"
    notebook = nbformat.read(path, as_version=4)
    if name in IAM_NOTEBOOKS:
        dirs, args = request.getfixturevalue("tiny_iam_dirs"), request.getfixturevalue("tiny_iam_args")
        inject_after_parameters(notebook, tiny_iam_cell(dirs, args))
    if name in OWN_DATA_NOTEBOOKS:
        inject_after_parameters(notebook, own_data_cell(request.getfixturevalue("tmp_path")))
    client = NotebookClient(notebook, timeout=TIMEOUT_S, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
    client.execute()  # raises CellExecutionError, with the cell and its traceback, when a cell fails
