"""read_image_pil: every kind of source, every image mode, clear errors."""
import http.server
import threading
from functools import partial

import numpy as np
import pytest
from PIL import Image

from text_recognizer.util import read_image_pil, str2bool


@pytest.fixture
def png(tmp_path):
    path = tmp_path / "page.png"
    Image.fromarray(np.tile(np.arange(0, 250, 10, dtype=np.uint8), (10, 1))).save(path)
    return path


def test_reads_paths_pil_images_and_arrays(png):
    from_path = read_image_pil(png)
    assert from_path.size == (25, 10)
    assert read_image_pil(str(png)).size == (25, 10)
    assert read_image_pil(from_path) is from_path
    assert read_image_pil(np.zeros((4, 6), dtype=np.uint8)).size == (6, 4)


def test_reads_http_urls(png):
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(png.parent))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        image = read_image_pil(f"http://127.0.0.1:{server.server_port}/page.png", grayscale=True)
        assert image.mode == "L" and image.size == (25, 10)
        with pytest.raises(OSError, match="could not read http://127.0.0.1"):
            read_image_pil(f"http://127.0.0.1:{server.server_port}/missing.png")
    finally:
        server.shutdown()


def test_grayscale_handles_rgba_and_16_bit(tmp_path):
    rgba = Image.new("RGBA", (4, 4), (0, 0, 0, 0))  # fully transparent: flattened on white paper
    assert np.asarray(read_image_pil(rgba, grayscale=True)).min() == 255
    deep = Image.fromarray(np.array([[0, 1000], [30000, 65535]], dtype=np.uint16))
    gray = np.asarray(read_image_pil(deep, grayscale=True))
    assert gray.dtype == np.uint8 and gray.tolist() == [[0, 4], [117, 255]]  # tones kept: value / 257
    floats = Image.fromarray(np.array([[0.0, 0.5]], dtype=np.float32))
    assert np.asarray(read_image_pil(floats, grayscale=True)).tolist() == [[0, 128]]


def test_unreadable_inputs_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such image file"):
        read_image_pil(tmp_path / "nope.png")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="is empty"):
        read_image_pil(empty)
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    with pytest.raises(ValueError, match="not a readable image"):
        read_image_pil(text)


def test_str2bool():
    assert str2bool("true") and str2bool("Yes") and not str2bool("0")
    with pytest.raises(Exception, match="expected true or false"):
        str2bool("maybe")
