"""FakeImageData (learnable random images) and MNIST (download, offline error, local files)."""
import argparse
import struct

import numpy as np
import pytest
import torch
from torchvision import datasets

from text_recognizer.data.fake_images import FakeImageData
from text_recognizer.data.mnist import MNIST


def test_fake_image_data_config_and_loaders():
    data = FakeImageData(argparse.Namespace(num_samples=40, num_classes=3, image_height=12, image_width=16, batch_size=8))
    data.setup()
    assert data.config() == {"input_dims": (1, 12, 16), "output_dims": (1,), "mapping": [0, 1, 2]}
    x, y = next(iter(data.train_dataloader()))
    assert x.shape == (8, 1, 12, 16) and 0 <= x.min() and x.max() <= 1
    assert y.dtype == torch.long and set(y.tolist()) <= {0, 1, 2}
    assert (len(data.data_train), len(data.data_val), len(data.data_test)) == (40, 10, 10)


def test_fake_image_data_is_deterministic():
    first, second = FakeImageData(), FakeImageData()
    first.setup(), second.setup()
    assert torch.equal(first.data_train.data, second.data_train.data)


def _write_idx(path, array: np.ndarray) -> None:
    """MNIST's idx format: magic (dtype 0x08 = ubyte, ndim), big-endian sizes, then the bytes."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def test_mnist_reads_local_files_without_network(tmp_path, monkeypatch):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, count in (("train", 60), ("t10k", 10)):
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", rng.integers(0, 255, (count, 28, 28)))
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, (count,)))
    monkeypatch.setattr(datasets.MNIST, "mirrors", ["http://127.0.0.1:9/"])  # must not be used
    data = MNIST(argparse.Namespace(batch_size=4))
    data.data_dir = tmp_path
    data.prepare_data()
    data.setup()
    assert len(data.data_train) + len(data.data_val) == 60 and len(data.data_test) == 10
    x, y = data.data_train[0]
    assert x.shape == (1, 28, 28) and isinstance(y, int)


def test_mnist_offline_error_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets.MNIST, "mirrors", ["http://127.0.0.1:9/"])  # a closed port: refused at once
    data = MNIST()
    data.data_dir = tmp_path
    with pytest.raises(RuntimeError) as error:
        data.prepare_data()
    message = str(error.value)
    assert "127.0.0.1:9" in message and "MNIST/raw" in message and "FakeImageData" in message
    assert not list(tmp_path.rglob("*.gz")), "no partial archive may be left behind"
