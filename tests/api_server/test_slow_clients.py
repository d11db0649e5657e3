"""Slow and stalled clients, and slow image URLs, against a real server on 127.0.0.1 (issue 35): none of
them may keep other clients' uploads waiting, and each is ended by a deadline (short ones here)."""
import concurrent.futures
import io
import socket
import threading
import time

import httpx
import pytest
from PIL import Image, ImageDraw
from serving_fixtures import ServerThread, shared_small_model

from text_recognizer.api_server.app import Settings, create_app
from text_recognizer.paragraph_text_recognizer import ParagraphTextRecognizer

DEADLINE_S = 1.0
STALLED, IDLE = 32, 40
# An upload's answer with the small model on an idle 2-core machine takes about 0.2-0.6 s; a queue behind
# stalled clients would last until their deadline, and a refusal is a 503.
UPLOAD_SECONDS = 8


@pytest.fixture(scope="module")
def recognizer(tmp_path_factory):
    return ParagraphTextRecognizer(shared_small_model(tmp_path_factory), backend="onnx")


@pytest.fixture(scope="module")
def page_png():
    image = Image.new("L", (400, 200), 255)
    ImageDraw.Draw(image).text((20, 80), "hello world", fill=0)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def upload(url: str, png: bytes) -> tuple[int, float]:
    started = time.monotonic()
    response = httpx.post(f"{url}/v1/recognize", files={"image": ("page.png", png, "image/png")}, timeout=60)
    return response.status_code, time.monotonic() - started


def read_until_closed(sock: socket.socket, within: float) -> bytes | None:
    """What the server sent before closing the connection, or None if it was still open after `within` s."""
    sock.settimeout(within)
    received = b""
    try:
        while chunk := sock.recv(4096):
            received += chunk
    except TimeoutError:
        return None
    except ConnectionResetError:
        pass
    return received


def test_stalled_bodies_and_silent_connections_hold_no_place_and_are_ended_by_deadlines(recognizer, page_png):
    """32 clients that send headers and 40 bytes of a 100 kB body, then stall, took every place in flight
    (32): every upload got 503 while they stayed (90 s and more). 40 connections that sent nothing stayed
    open as long. Now: places are taken once the image is read, a stalled body gets 408 at the body
    deadline and its connection is closed, and a silent connection is closed at the header deadline."""
    settings = Settings(model_path=recognizer.model_path, max_in_flight=STALLED, body_deadline_s=DEADLINE_S,
                        header_deadline_s=DEADLINE_S)
    with ServerThread(create_app(settings, recognizer=recognizer)) as server:
        assert upload(server.url, page_png)[0] == 200  # warm
        head = (b"POST /v1/recognize HTTP/1.1\r\nHost: test\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                b"Content-Length: 100000\r\n\r\n--b\r\nContent-Disposition: form-data; name=\"image\"; "
                b"filename=\"page.png\"\r\n\r\n" + b"x" * 40)
        opened = time.monotonic()
        stalled = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(STALLED)]
        idle = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(IDLE)]
        try:
            for sock in stalled:
                sock.sendall(head)
            status, seconds = upload(server.url, page_png)
            assert status == 200 and seconds < UPLOAD_SECONDS
            assert httpx.get(f"{server.url}/healthz").json()["in_flight"] == 0
            answers = [read_until_closed(sock, within=DEADLINE_S + 5) for sock in stalled]
            assert all(answer is not None and answer.startswith(b"HTTP/1.1 408 ") and b"did not arrive within" in answer
                       for answer in answers), answers[:2]
            assert all(read_until_closed(sock, within=DEADLINE_S + 5) == b"" for sock in idle)
            assert time.monotonic() - opened < DEADLINE_S + 8
            print(f"\nwith {STALLED} stalled and {IDLE} silent connections: upload {status} in {seconds * 1e3:.0f} ms")
        finally:
            for sock in stalled + idle:
                sock.close()


def test_a_header_sent_a_byte_at_a_time_does_not_hold_the_connection(recognizer):
    """Sending something now and then (a slowloris) keeps no connection past the header deadline."""
    settings = Settings(model_path=recognizer.model_path, header_deadline_s=DEADLINE_S)
    with ServerThread(create_app(settings, recognizer=recognizer)) as server, \
            socket.create_connection(("127.0.0.1", server.port)) as sock:
        started = time.monotonic()
        with pytest.raises((BrokenPipeError, ConnectionResetError)):
            for byte in b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Slow: " + b"x" * 100:
                sock.sendall(bytes([byte]))
                time.sleep(0.1)
        assert time.monotonic() - started < DEADLINE_S + 3
        # a request that comes whole is answered, and the next one on the connection is kept as usual
        with httpx.Client() as client:
            assert client.get(f"{server.url}/healthz").status_code == 200
            assert client.get(f"{server.url}/healthz").status_code == 200


class TricklingServer:
    """Accepts every connection and sends an HTTP status line a byte every 0.2 s, never finishing in time."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/page.png"
        self.stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._trickle, args=(connection,), daemon=True).start()

    def _trickle(self, connection: socket.socket) -> None:
        with connection:
            for byte in b"HTTP/1.0 200 OK\r\nContent-Type: image/png\r\nX-Pad: " + b"x" * 1000:
                if self.stop.wait(0.2):
                    return
                try:
                    connection.sendall(bytes([byte]))
                except OSError:
                    return

    def close(self) -> None:
        self.stop.set()
        self.listener.close()


def test_slow_image_urls_never_keep_uploads_waiting(recognizer, page_png):
    """7 URLs whose server trickled its headers froze every upload for about 150 s (fetches and upload
    preprocessing shared one thread pool; the deadline was checked only in the body). Now fetches have
    threads of their own, at most max_url_fetches (one more is 503 at once), each ended at the deadline."""
    trickling = TricklingServer()
    settings = Settings(model_path=recognizer.model_path, allow_urls=True, allow_internal_urls=True, max_url_fetches=3,
                        body_deadline_s=DEADLINE_S + 1)
    try:
        with ServerThread(create_app(settings, recognizer=recognizer)) as server, \
                concurrent.futures.ThreadPoolExecutor(7) as pool:
            assert upload(server.url, page_png)[0] == 200  # warm
            started = time.monotonic()
            fetches = [pool.submit(httpx.post, f"{server.url}/v1/recognize", json={"url": trickling.url}, timeout=60)
                       for _ in range(7)]
            time.sleep(0.3)
            status, seconds = upload(server.url, page_png)
            assert status == 200 and seconds < UPLOAD_SECONDS
            answers = [fetch.result() for fetch in fetches]
            statuses = sorted(answer.status_code for answer in answers)
            assert statuses == [400] * 3 + [503] * 4, [answer.text for answer in answers]
            assert all("did not finish within" in a.json()["error"]["message"] for a in answers if a.status_code == 400)
            assert time.monotonic() - started < settings.body_deadline_s + 5
            print(f"\nwith 3 trickling URL fetches under way: upload {status} in {seconds * 1e3:.0f} ms")
    finally:
        trickling.close()
