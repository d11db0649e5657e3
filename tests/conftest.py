"""Shared test settings: no network, no W&B account, small thread counts."""
import os
from pathlib import Path

# Before anything imports wandb: tests log nowhere (a test that needs W&B files sets offline itself).
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("WANDB_SILENT", "true")


# ---- Tiny offline IAM (the "rendered" source), shared by the IAM data module and notebook tests.
import argparse

import pytest

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


# ---- Users' own folders (HandwritingFolder), written from the tiny rendered IAM's forms.
OWN_DATA_LAYOUTS = ("page", "page2013", "alto", "image_txt")


@pytest.fixture(scope="session")
def own_data_folders(tiny_iam_dirs, tmp_path_factory) -> dict:
    """The tiny rendered IAM's 8 forms as a PAGE 2019, a PAGE 2013, an ALTO v4 and an image+txt folder
    (text_recognizer.data.iam_export), and per writer as PAGE folders ("page_writer_<id>")."""
    from text_recognizer.data.iam import IAM
    from text_recognizer.data.iam_export import export_forms

    iam = IAM(source="rendered", data_dirname=tiny_iam_dirs["downloaded"], forms=TINY_IAM_FLAGS["iam_rendered_forms"],
              writers=TINY_IAM_FLAGS["iam_rendered_writers"]).load()
    root = tmp_path_factory.mktemp("own_data")
    folders: dict = {"iam": iam}
    for layout in OWN_DATA_LAYOUTS:
        folders[layout] = export_forms(iam, iam.all_ids, root / layout, layout)
    for writer in sorted(set(iam.writer_id_by_form_id.values())):
        ids = [i for i in iam.all_ids if iam.writer_id_by_form_id[i] == writer]
        folders[f"page_writer_{writer}"] = export_forms(iam, ids, root / f"page_writer_{writer}", "page")
    return folders


@pytest.fixture
def own_data_cache(tmp_path, monkeypatch) -> Path:
    """HandwritingFolder's processed caches in this test's temporary folder."""
    from text_recognizer.metadata import handwriting_folder

    monkeypatch.setattr(handwriting_folder, "PROCESSED_DATA_DIRNAME", tmp_path / "processed")
    return tmp_path / "processed"
