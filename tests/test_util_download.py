"""download_url against a local HTTP server: it either leaves the verified file, or nothing at all.

(Named test_util_download.py, not test_util.py: tests/data/test_util.py already holds that module name.)
"""
import hashlib
import http.server
import socket
import threading
from pathlib import Path

import pytest

from text_recognizer.util import DownloadError, download_url

PAYLOAD = b"PK fake zip bytes " * 1000


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's naming)
        if self.path == "/truncated":
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD) * 2))  # promises more than it sends
            self.end_headers()
            self.wfile.write(PAYLOAD)
            self.wfile.flush()
            self.close_connection = True
            return
        if self.path != "/file.zip":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(PAYLOAD)))
        self.end_headers()
        self.wfile.write(PAYLOAD)

    def log_message(self, *args):  # keep test output quiet
        pass


@pytest.fixture(scope="module")
def server_url():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens there once the socket is closed


def leftovers(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def test_good_checksum_leaves_the_file(server_url, tmp_path):
    target = tmp_path / "file.zip"
    result = download_url(f"{server_url}/file.zip", target, hashlib.sha256(PAYLOAD).hexdigest())
    assert result == target and target.read_bytes() == PAYLOAD
    assert leftovers(tmp_path) == ["file.zip"]  # no temporary file left beside it


def test_bad_checksum_leaves_nothing(server_url, tmp_path):
    with pytest.raises(DownloadError, match="checksum"):
        download_url(f"{server_url}/file.zip", tmp_path / "file.zip", "0" * 64)
    assert leftovers(tmp_path) == []


def test_connection_refused_names_the_url(tmp_path):
    url = f"http://127.0.0.1:{closed_port()}/file.zip"
    with pytest.raises(DownloadError, match="could not download") as error:
        download_url(url, tmp_path / "file.zip", None, timeout=5)
    assert url in str(error.value)
    assert leftovers(tmp_path) == []


def test_truncated_transfer_leaves_nothing(server_url, tmp_path):
    with pytest.raises(DownloadError, match="truncated|broke off"):
        download_url(f"{server_url}/truncated", tmp_path / "file.zip", None, timeout=5)
    assert leftovers(tmp_path) == []


def test_http_error_leaves_nothing(server_url, tmp_path):
    with pytest.raises(DownloadError, match="404"):
        download_url(f"{server_url}/missing.zip", tmp_path / "file.zip", None, timeout=5)
    assert leftovers(tmp_path) == []
