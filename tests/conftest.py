"""Shared test settings: no network, no W&B account, small thread counts."""
import os
from pathlib import Path

# Before anything imports wandb: tests log nowhere (a test that needs W&B files sets offline itself).
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("WANDB_SILENT", "true")


# ---- Tiny offline IAM (the "rendered" source), shared by the IAM data module and notebook tests.
import argparse

import pytest

# "pypi": the faces installed with the project, so the tests never fetch the npm ones (hermetic).
TINY_IAM_FLAGS = {"iam_source": "rendered", "iam_rendered_forms": 8, "iam_rendered_writers": 2,
                  "iam_rendered_fonts": "pypi"}  # 3 s to render


@pytest.fixture(scope="session")
def tiny_iam_dirs(tmp_path_factory) -> dict[str, Path]:
    """The session's data folder for the tiny rendered IAM tree and its processed caches (built once, reused):
    "root" is what $TEXT_RECOGNIZER_DATA_DIR names, "downloaded" the rendered trees' folder inside it."""
    root = tmp_path_factory.mktemp("tiny_iam")
    return {"root": root, "downloaded": root / "downloaded" / "iam_rendered", "processed": root / "processed"}


def use_data_dir(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    """Make every download and cache live under `root`: the one setting, $TEXT_RECOGNIZER_DATA_DIR."""
    from text_recognizer.metadata.shared import DATA_DIR_ENV_VAR

    monkeypatch.setenv(DATA_DIR_ENV_VAR, str(root))


@pytest.fixture
def tiny_iam_args(tiny_iam_dirs, monkeypatch) -> argparse.Namespace:
    """Flags for an IAM data module on the tiny rendered IAM, with all its data in the session's temp folder."""
    use_data_dir(monkeypatch, tiny_iam_dirs["root"])
    return argparse.Namespace(**TINY_IAM_FLAGS, batch_size=4, num_workers=0)


# ---- Users' own folders (HandwritingFolder), written from the tiny rendered IAM's forms.
OWN_DATA_LAYOUTS = ("page", "page2013", "alto", "image_txt")


@pytest.fixture(scope="session")
def own_data_folders(tiny_iam_dirs, tmp_path_factory) -> dict:
    """The tiny rendered IAM's 8 forms as a PAGE 2019, a PAGE 2013, an ALTO v4 and an image+txt folder
    (text_recognizer.data.synthetic.iam_export), and per writer as PAGE folders ("page_writer_<id>")."""
    from text_recognizer.data.sources.iam import IAM
    from text_recognizer.data.synthetic.iam_export import export_forms
    from text_recognizer.data.synthetic.iam_rendered import RenderedTree, RenderOptions

    options = RenderOptions(forms=TINY_IAM_FLAGS["iam_rendered_forms"], writers=TINY_IAM_FLAGS["iam_rendered_writers"],
                            fonts=TINY_IAM_FLAGS["iam_rendered_fonts"])
    iam = IAM(RenderedTree(tiny_iam_dirs["downloaded"], options)).load()
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
    """HandwritingFolder's processed caches (every cache) in this test's temporary folder."""
    use_data_dir(monkeypatch, tmp_path)
    return tmp_path / "processed"
