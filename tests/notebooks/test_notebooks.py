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
]
TIMEOUT_S = 300  # per cell


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs(name, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    path = NOTEBOOK_DIR / f"{name}.ipynb"
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=TIMEOUT_S, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
    client.execute()  # raises CellExecutionError, with the cell and its traceback, when a cell fails
