"""What the serving tests share: a small random ResnetTransformer exported to ONNX, and offline test paragraphs."""
from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from conftest import TINY_IAM_FLAGS, use_data_dir
from PIL import Image

from text_recognizer.metadata import iam_paragraphs as metadata

# Small enough to export in seconds; a short maximum output keeps random-weight decoding fast.
SMALL_ARGS = {"tf_dim": 32, "tf_fc_dim": 32, "tf_layers": 2, "tf_nhead": 2}
SMALL_OUTPUT_LENGTH = 40


def save_small_model(path: Path, seed: int = 0, **args: object) -> Path:
    import torch

    from text_recognizer.model_file import save_model_file
    from text_recognizer.models import ResnetTransformer

    torch.manual_seed(seed)
    all_args = {**SMALL_ARGS, **args}
    config = {"input_dims": list(metadata.DIMS), "output_dims": [SMALL_OUTPUT_LENGTH, 1], "mapping": metadata.MAPPING}
    model = ResnetTransformer({**config, "input_dims": metadata.DIMS}, argparse.Namespace(**all_args))
    # half=False: the torch backend then holds exactly the weights that were exported
    return save_model_file({"model_class": "ResnetTransformer", "data_config": config, "model_config": all_args,
                            "state_dict": model.state_dict()}, path, half=False)


def exported_small_model(folder: Path, **args: object) -> Path:
    """model.pt and its ONNX graphs in `folder`; returns the model.pt."""
    from text_recognizer.training.export_model import export

    path = save_small_model(folder / "model.pt", **args)
    export(path)
    return path


def offline_test_paragraphs(root: Path, count: int) -> tuple[list[Path], list[str]]:
    """PNG files (as the processed cache holds them: white ink on black) and true texts of the tiny offline
    source's test paragraphs."""
    from text_recognizer.data.iam_paragraphs import IAMParagraphs
    from text_recognizer.vocabulary import convert_labels_to_strings

    with pytest.MonkeyPatch.context() as monkeypatch:
        use_data_dir(monkeypatch, root)
        data = IAMParagraphs(argparse.Namespace(**TINY_IAM_FLAGS, augment_data=False))
        data.prepare_data()
        data.setup()
    test = data.data_test
    count = min(count, len(test))
    files = []
    for i, filename in enumerate(test.filenames[:count]):
        target = root / f"paragraph_{i}.png"
        Image.open(filename).convert("L").save(target)
        files.append(target)
    return files, convert_labels_to_strings(test.labels[:count], data.mapping)


class ServerThread:
    """A uvicorn server for `app` on a free 127.0.0.1 port, in a thread of this process, with the protocol
    python -m text_recognizer.api_server uses (a deadline for request headers); `options` go to uvicorn.Config."""

    def __init__(self, app, **options) -> None:
        import socket
        import threading

        import uvicorn

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        from text_recognizer.api_server.connections import HeaderDeadlineProtocol

        config = {"host": "127.0.0.1", "port": self.port, "log_level": "warning", "http": HeaderDeadlineProtocol, **options}
        self.server = uvicorn.Server(uvicorn.Config(app, **config))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ServerThread:
        import time

        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


_MEMO: dict = {}


def shared_small_model(tmp_path_factory) -> Path:
    """One exported small model for every serving test of the session (an export costs 20 s of CPU)."""
    if "model" not in _MEMO:
        _MEMO["model"] = exported_small_model(tmp_path_factory.mktemp("small_onnx_model"))
    return _MEMO["model"]


def shared_paragraphs(tmp_path_factory, count: int = 6) -> tuple[list[Path], list[str]]:
    """The offline source's test paragraphs, rendered once per session."""
    if "paragraphs" not in _MEMO:
        _MEMO["paragraphs"] = offline_test_paragraphs(tmp_path_factory.mktemp("offline_paragraphs"), count)
    return _MEMO["paragraphs"]
