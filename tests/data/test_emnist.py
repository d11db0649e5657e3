"""EMNIST: the real processing path (unzip, parse the .mat, balance, cache) run on a tiny made-up archive."""
import argparse
import io
import json
import shutil
import time
import zipfile

import numpy as np
import pytest
import scipy.io
import torch
from emnist_fixtures import _emnist_cache_dir, emnist_paths, tiny_emnist_archive  # noqa: F401

from text_recognizer.data.emnist import EMNIST
from text_recognizer.data.sources.emnist import parse_emnist_mat, sample_to_balance
from text_recognizer.data.synthetic.fake_emnist import write_fake_emnist_archive
from text_recognizer.metadata import emnist as metadata
from text_recognizer.metadata import shared
from text_recognizer.util import compute_sha256


def _mat_file(dataset: dict, name: str = "dataset") -> bytes:
    """A MATLAB 5 file in NIST's layout: the dict is written as a struct (nested dicts as nested structs)."""
    buffer = io.BytesIO()
    scipy.io.savemat(buffer, {name: dataset}, format="5", do_compression=True)
    return buffer.getvalue()


def test_parsing_turns_images_upright_and_shifts_labels_past_the_special_tokens():
    upright = np.zeros((28, 28), dtype=np.uint8)
    upright[2, :] = 255  # a horizontal bar near the top: asymmetric under transposition
    mapping = np.array([[k, ord(c)] for k, c in enumerate(metadata.BYCLASS_CHARACTERS)], dtype=np.float64)
    split = {"images": upright.T.reshape(1, 784), "labels": np.array([[10.0]])}  # EMNIST stores images transposed
    arrays = parse_emnist_mat(_mat_file({"train": split, "test": split, "mapping": mapping}))
    assert arrays["x_train"].shape == (1, 28, 28) and np.array_equal(arrays["x_train"][0], upright)
    assert arrays["y_train"].tolist() == [14] and shared.MAPPING[14] == "A"  # byclass label 10 is "A"


def test_an_unexpected_byclass_mapping_is_an_error():
    mapping = np.array([[k, ord("x")] for k in range(62)], dtype=np.float64)
    split = {"images": np.zeros((1, 784), np.uint8), "labels": np.zeros((1, 1))}
    with pytest.raises(ValueError, match="mapping"):
        parse_emnist_mat(_mat_file({"train": split, "test": split, "mapping": mapping}))


def test_a_file_that_is_not_the_byclass_mat_is_an_error():
    with pytest.raises(ValueError, match="byclass"):
        parse_emnist_mat(_mat_file({"images": np.zeros((1, 784), np.uint8)}, name="other"))
    with pytest.raises(ValueError, match="byclass"):
        parse_emnist_mat(b"PK\x03\x04" + b"\0" * 200)


def test_the_made_up_archive_is_byte_for_byte_reproducible(tmp_path):
    """savemat stamps the time in its header; fake_emnist fixes it so that the hash-keyed cache is reused."""
    first = write_fake_emnist_archive(tmp_path / "a.zip", train_per_class=1, test_per_class=1)
    time.sleep(1.1)  # a different second in savemat's "Created on" text
    second = write_fake_emnist_archive(tmp_path / "b.zip", train_per_class=1, test_per_class=1)
    assert compute_sha256(first) == compute_sha256(second)
    with zipfile.ZipFile(first) as zipped:
        arrays = parse_emnist_mat(zipped.read(metadata.MAT_MEMBER))
    assert arrays["x_train"].shape == (62, 28, 28) and sorted(arrays["y_train"].tolist()) == list(range(4, 66))


def test_balancing_keeps_at_most_the_mean_count_per_class_reproducibly():
    y = np.array([4] * 10 + [5] * 2 + [6] * 3)  # mean count 5
    x = np.arange(len(y))
    x1, y1 = sample_to_balance(x, y)
    assert np.bincount(y1).tolist()[4:] == [5, 2, 3]
    assert np.array_equal(y[x1], y1)  # images stay with their labels
    assert np.array_equal(sample_to_balance(x, y)[0], x1)


def test_data_module_from_the_tiny_archive(emnist_paths):  # noqa: F811
    data = EMNIST(argparse.Namespace(emnist_archive=str(emnist_paths["archive"]), batch_size=16))
    assert data.mapping == shared.MAPPING and len(data.mapping) == 83 and data.mapping.index(" ") == 66
    assert data.config() == {"input_dims": (1, 28, 28), "output_dims": (1,), "mapping": shared.MAPPING}
    data.prepare_data()
    data.setup()
    assert (len(data.data_train), len(data.data_val), len(data.data_test)) == (198, 50, 124)  # 80/20 of 62 x 4
    assert set(data.y_trainval.tolist()) == set(range(4, 66))  # every byclass character, none of the specials
    x, y = next(iter(data.train_dataloader()))
    assert x.shape == (16, 1, 28, 28) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
    assert y.dtype == torch.int64 and y.min() >= 4 and y.max() <= 65
    # The cache is keyed by the archive's content and written atomically; the essentials say what EMNIST is.
    assert data.processed_filename.parent == emnist_paths["processed"]
    assert not list(emnist_paths["processed"].glob("*.part"))
    essentials = json.loads(emnist_paths["essentials"].read_text())
    assert essentials == {"characters": shared.MAPPING, "input_shape": [28, 28]}


def test_the_archive_can_come_from_the_environment(emnist_paths):  # noqa: F811
    assert EMNIST().archive == emnist_paths["archive"]  # EMNIST_ARCHIVE set by the fixture
    assert EMNIST(argparse.Namespace(emnist_archive="/elsewhere/matlab.zip")).archive.name == "matlab.zip"


def test_a_missing_custom_archive_says_how_to_make_one(emnist_paths, tmp_path):  # noqa: F811
    data = EMNIST(argparse.Namespace(emnist_archive=str(tmp_path / "nope.zip")))
    with pytest.raises(FileNotFoundError, match="fake_emnist"):
        data.prepare_data()


def _point_metadata_at(monkeypatch, tmp_path, sha256):
    toml_file = tmp_path / "metadata.toml"
    # Port 9 on localhost: connection refused at once, like a machine without network.
    toml_file.write_text(f'url = "http://127.0.0.1:9/matlab.zip"\nfilename = "matlab.zip"\nsha256 = "{sha256}"\n')
    monkeypatch.setattr(metadata, "METADATA_FILENAME", toml_file)
    monkeypatch.delenv(metadata.ARCHIVE_ENV_VAR)


def test_offline_without_an_archive_is_a_clear_error(emnist_paths, monkeypatch, tmp_path):  # noqa: F811
    _point_metadata_at(monkeypatch, tmp_path, "0" * 64)
    monkeypatch.setenv(shared.DATA_DIR_ENV_VAR, str(tmp_path / "data"))  # no cache, no download
    with pytest.raises(RuntimeError) as error:
        EMNIST().prepare_data()
    message = str(error.value)
    assert "http://127.0.0.1:9/matlab.zip" in message and str(tmp_path / "data" / "downloaded" / "emnist") in message
    assert "--emnist_archive" in message and "fake_emnist" in message


def test_an_archive_placed_in_the_download_folder_is_used_without_network(emnist_paths, monkeypatch, tmp_path):  # noqa: F811
    monkeypatch.setenv(shared.DATA_DIR_ENV_VAR, str(tmp_path / "data"))
    placed = tmp_path / "data" / "downloaded" / "emnist" / "matlab.zip"
    placed.parent.mkdir(parents=True, exist_ok=True)
    write_fake_emnist_archive(placed, train_per_class=2, test_per_class=1, seed=5)
    _point_metadata_at(monkeypatch, tmp_path, compute_sha256(placed))
    data = EMNIST()
    data.prepare_data()
    data.setup()
    assert len(data.data_test) == 62 and data.processed_filename == tmp_path / "data" / "processed" / "emnist" / "byclass.h5"
    shutil.copy(emnist_paths["archive"], placed)  # now it does not match the checksum
    data.processed_filename.unlink()
    with pytest.raises(RuntimeError, match="checksum"):
        EMNIST().prepare_data()


def test_a_zip_without_the_byclass_file_is_refused(emnist_paths, tmp_path):  # noqa: F811
    archive = tmp_path / "other.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("readme.txt", "hello")
    with pytest.raises(ValueError, match="emnist-byclass.mat"):
        EMNIST(argparse.Namespace(emnist_archive=str(archive))).prepare_data()


def test_the_archive_is_downloaded_when_missing(emnist_paths, monkeypatch, tmp_path):  # noqa: F811
    """The real download path, served from a local HTTP server (tests never use the network)."""
    import functools
    import http.server
    import threading

    served = tmp_path / "served"
    served.mkdir()
    shutil.copy(emnist_paths["archive"], served / "matlab.zip")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        toml_file = tmp_path / "metadata.toml"
        toml_file.write_text(
            f'url = "http://127.0.0.1:{server.server_port}/matlab.zip"\nfilename = "matlab.zip"\n'
            f'sha256 = "{compute_sha256(emnist_paths["archive"])}"\n'
        )
        monkeypatch.setattr(metadata, "METADATA_FILENAME", toml_file)
        monkeypatch.setenv(shared.DATA_DIR_ENV_VAR, str(tmp_path))
        monkeypatch.delenv(metadata.ARCHIVE_ENV_VAR)
        data = EMNIST()
        data.prepare_data()
    finally:
        server.shutdown()
    assert (tmp_path / "downloaded" / "emnist" / "matlab.zip").exists() and (tmp_path / "processed" / "emnist" / "byclass.h5").exists()
