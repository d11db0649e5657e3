"""The REST API through FastAPI's TestClient: answers, limits, and a 4xx JSON error for every bad input."""
import base64
import io
import json

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from serving_fixtures import shared_paragraphs, shared_small_model

from text_recognizer.api_server.app import Settings, create_app
from text_recognizer.paragraph_text_recognizer import ParagraphTextRecognizer


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return shared_small_model(tmp_path_factory)


@pytest.fixture(scope="module")
def paragraphs(tmp_path_factory):
    return shared_paragraphs(tmp_path_factory)[0][:2]


@pytest.fixture(scope="module")
def recognizer(model_path):
    return ParagraphTextRecognizer(model_path, backend="onnx")


def client_for(recognizer, **settings):
    return TestClient(create_app(Settings(model_path=recognizer.model_path, **settings), recognizer=recognizer),
                      raise_server_exceptions=False)


@pytest.fixture(scope="module")
def client(recognizer):
    with client_for(recognizer, max_body_bytes=1 << 20, max_pixels=4_000_000) as client:
        yield client


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def assert_client_error(response, status):
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["status"] == status and body["error"]["message"] and body["request_id"]
    assert "Traceback" not in response.text


@pytest.mark.slow
def test_health_model_and_page(client, model_path):
    assert client.get("/healthz").json()["status"] == "ok"
    model = client.get("/v1/model").json()
    assert model["class"] == "ResnetTransformer" and model["backend"] == "onnx" and model["source"] == "model.pt"
    assert model["data_config"]["mapping_size"] == 84 and model["model_config"]["tf_layers"] == 2
    page = client.get("/")
    assert page.status_code == 200 and "<input id=\"file\"" in page.text


def test_worker_settings_come_from_the_environment_threads_included(model_path, monkeypatch):
    from text_recognizer.api_server.__main__ import ENV_PREFIX, app_from_environment

    for name, value in {"MODEL_PATH": str(model_path), "BACKEND": "onnx", "THREADS": "1"}.items():
        monkeypatch.setenv(ENV_PREFIX + name, value)
    with TestClient(app_from_environment()) as client:
        model = client.get("/v1/model").json()
    assert model["backend"] == "onnx" and model["threads"] == 1
    monkeypatch.setenv(ENV_PREFIX + "THREADS", "0")  # auto: torch on one thread (measured), onnx on its default
    for backend, threads in (("torch", 1), ("onnx", None)):
        monkeypatch.setenv(ENV_PREFIX + "BACKEND", backend)
        with TestClient(app_from_environment()) as client:
            assert client.get("/v1/model").json()["threads"] == threads


def test_an_upload_is_read_as_the_recognizer_reads_it(client, recognizer, paragraphs):
    expected = recognizer.predict_batch([paragraphs[0]])[0]
    with open(paragraphs[0], "rb") as file:
        response = client.post("/v1/recognize", files={"image": ("paragraph.png", file, "image/png")},
                               headers={"X-Request-ID": "test-42"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["text"] == expected.text and abs(body["confidence"] - expected.confidence) < 1e-6
    assert body["elapsed_ms"] > 0
    assert body["model"]["class"] == "ResnetTransformer" and body["request_id"] == "test-42"
    # lines are objects (issue 34; they were strings): text, confidence, box and polygon in the upload's pixels
    width, height = Image.open(paragraphs[0]).size
    assert body["image_size"] == [width, height] and body["read_by"] == expected.read_by
    assert [line["text"] for line in body["lines"]] == [line.text for line in expected.lines]
    assert "\n".join(line["text"] for line in body["lines"]) == body["text"]
    for line, want in zip(body["lines"], expected.lines):
        assert line["box"] == list(want.box) and line["polygon"] == [list(p) for p in want.polygon]
        x0, y0, x1, y1 = line["box"]
        assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
        assert abs(line["confidence"] - want.confidence) < 1e-6 and 0 <= line["confidence"] <= 1


@pytest.mark.parametrize("fmt,media_type,root", [
    ("page", "application/xml", "{http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15}PcGts"),
    ("alto", "application/xml", "{http://www.loc.gov/standards/alto/ns-v4#}alto"),
    ("hocr", "application/xhtml+xml", "{http://www.w3.org/1999/xhtml}html"),
])
def test_format_returns_the_document_with_its_media_type(client, paragraphs, fmt, media_type, root):
    from lxml import etree

    with open(paragraphs[0], "rb") as file:
        response = client.post(f"/v1/recognize?format={fmt}", files={"image": ("scan 7.png", file, "image/png")})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(media_type) and response.headers["x-request-id"]
    document = etree.fromstring(response.content)
    assert document.tag == root
    assert "scan 7.png" in response.text  # the document cites the uploaded file
    assert_client_error(client.post("/v1/recognize?format=docx", files={"image": ("a.png", b"x", "image/png")}), 422)


def test_the_openapi_document_shows_the_response_model(client):
    schema = client.get("/openapi.json").json()
    line = schema["components"]["schemas"]["Line"]["properties"]
    assert {"text", "confidence", "box", "polygon"} <= set(line)
    answers = schema["paths"]["/v1/recognize"]["post"]["responses"]["200"]["content"]
    assert {"application/json", "application/xml", "application/xhtml+xml"} <= set(answers)


def test_a_phone_photo_in_heic_is_read_and_shows_what_the_model_read(client, recognizer, paragraphs):
    """HEIC (phones' default) opens; ?normalized=true returns the normalized page and its lines' boxes."""
    from text_recognizer.data.synthetic.photo_effects import PhotoOptions, photograph

    pytest.importorskip("pillow_heif")
    photo = photograph(Image.open(paragraphs[0]), 0, PhotoOptions(width=(1400, 1500)))
    heic = io.BytesIO()
    photo.save(heic, format="HEIF")
    response = client.post("/v1/recognize?normalized=true", files={"image": ("IMG_0001.HEIC", heic.getvalue(), "image/heic")})
    assert response.status_code == 200, response.text
    body = response.json()
    prepared = recognizer.prepare(heic.getvalue())  # the same bytes, read by the library
    view = body["normalized"]
    assert view["line_boxes"] == [list(box) for box in prepared.boxes] and "sheet" in view["steps"]
    shown = Image.open(io.BytesIO(base64.b64decode(view["image"].split(",", 1)[1])))
    assert shown.size == (view["width"], view["height"]) == prepared.page.size
    assert "normalized" not in client.post("/v1/recognize", files={"image": ("a.png", png_bytes(photo), "image/png")}).json()


def test_bad_inputs_get_4xx_json_and_the_server_keeps_serving(client, paragraphs):
    good = open(paragraphs[0], "rb").read()
    bomb = png_bytes(Image.new("1", (3000, 3000)))  # a few kB that would decode to 9 million pixels
    cases = [
        (400, dict(files={"other": ("a.png", good, "image/png")})),  # no "image" field
        (400, dict(files={"image": ("empty.png", b"", "image/png")})),
        (415, dict(files={"image": ("notes.txt", b"hello", "text/plain")})),  # wrong content type
        (415, dict(files={"image": ("fake.png", b"this is not a png at all", "image/png")})),  # not an image
        (422, dict(files={"image": ("cut.png", good[: len(good) // 2], "image/png")})),  # truncated
        (413, dict(files={"image": ("bomb.png", bomb, "image/png")})),
        (413, dict(files={"image": ("huge.png", good + b"\0" * (2 << 20), "image/png")})),  # over the body limit
        (415, dict(content=b"raw bytes", headers={"Content-Type": "application/octet-stream"})),
        (415, dict(json={"image_base64": base64.b64encode(good).decode()})),  # JSON is disabled
        (415, dict(json={"url": "http://127.0.0.1:9/x.png"})),
    ]
    for status, request in cases:
        response = client.post("/v1/recognize", **request)
        assert_client_error(response, status)
        if status == 413 and "bomb" in str(request):
            assert "4000000" in response.json()["error"]["message"]  # the limit is said
    assert_client_error(client.get("/v1/nothing"), 404)
    assert_client_error(client.get("/v1/recognize"), 405)
    assert client.post("/v1/recognize", files={"image": ("ok.png", good, "image/png")}).status_code == 200


def test_json_bodies_only_when_enabled(recognizer, paragraphs):
    good = open(paragraphs[0], "rb").read()
    with client_for(recognizer, allow_json=True) as client:
        response = client.post("/v1/recognize", json={"image_base64": base64.b64encode(good).decode()})
        assert response.status_code == 200 and response.json()["text"] == recognizer.predict(paragraphs[0])
        assert_client_error(client.post("/v1/recognize", json={"image_base64": "%%%"}), 400)
        assert_client_error(client.post("/v1/recognize", json={"url": "http://127.0.0.1:9/x.png"}), 400)  # URLs still off
        assert_client_error(client.post("/v1/recognize", content=b"{", headers={"Content-Type": "application/json"}), 400)


def test_an_overloaded_server_answers_503_at_once(recognizer, paragraphs):
    with client_for(recognizer, max_in_flight=1) as client:
        batcher = client.app.state.batcher
        batcher.acquire()  # one request in flight: the limit
        try:
            response = client.post("/v1/recognize", files={"image": ("a.png", open(paragraphs[0], "rb"), "image/png")})
            assert_client_error(response, 503)
        finally:
            batcher.release()
        assert client.post("/v1/recognize", files={"image": ("a.png", open(paragraphs[0], "rb"), "image/png")}).status_code == 200


def test_an_internal_failure_is_a_500_json_without_traceback(recognizer, paragraphs, monkeypatch):
    with client_for(recognizer) as client:
        def broken(images):
            raise RuntimeError("secret internals")

        monkeypatch.setattr(client.app.state.batcher, "predict", broken)
        response = client.post("/v1/recognize", files={"image": ("a.png", open(paragraphs[0], "rb"), "image/png")})
        assert response.status_code == 500 and "secret" not in response.text and "Traceback" not in response.text
        assert json.loads(response.text)["request_id"]


def test_a_blank_page_is_200_with_empty_text(tmp_path):
    """Issue 35: a blank page was a 500 (joint reading crashed on lines with no text). Now: empty text."""
    from test_read_by_lines import save_ctc_line_model

    recognizer = ParagraphTextRecognizer(save_ctc_line_model(tmp_path / "blank.pt", letter="<B>"))
    with client_for(recognizer) as client:
        for color in (255, 0):
            response = client.post("/v1/recognize", files={"image": ("blank.png", png_bytes(Image.new("L", (400, 300), color)),
                                                                     "image/png")})
            assert response.status_code == 200, response.text
            assert response.json()["text"] == "" and response.json()["lines"] == []
            assert response.json()["warnings"] == ["no text found"]


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that states its size and holds no pixels: enough for Image.open, which checks the size first."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)) + chunk(b"IEND", b"")


def test_a_30000_pixel_square_png_is_413_not_415(client):
    """Issue 35: Pillow refuses it as a decompression bomb at open, which the server called "not an image"."""
    response = client.post("/v1/recognize", files={"image": ("huge.png", _png_header_only(30000, 30000), "image/png")})
    assert_client_error(response, 413)
    assert "scale it down" in response.json()["error"]["message"]


def test_the_model_description_keeps_the_trainers_command_unless_asked(recognizer, tmp_path):
    """Issue 35: /v1/model returned run_command.txt verbatim (the trainer's paths)."""
    run_command = recognizer.model_path.parent / "run_command.txt"
    run_command.write_text("python training/run_experiment.py --log_dir=/home/someone/secret_runs\n")
    try:
        with client_for(recognizer) as client:
            assert client.get("/v1/model").json()["run_command"] is True
            assert "secret_runs" not in client.get("/v1/model").text
        with client_for(recognizer, show_run_command=True) as client:
            assert "secret_runs" in client.get("/v1/model").json()["run_command"]
    finally:
        run_command.unlink()


def test_the_model_description_holds_its_model_card(recognizer):
    """Issue 34: /v1/model returns MODEL_CARD.md beside the model (what it trained on, its limits), or None."""
    card = recognizer.model_path.parent / "MODEL_CARD.md"
    try:
        with client_for(recognizer) as client:
            assert client.get("/v1/model").json()["model_card"] is None
        card.write_text("# Model card\n\nRendered fonts only.\n")
        with client_for(recognizer) as client:
            assert client.get("/v1/model").json()["model_card"] == "# Model card\n\nRendered fonts only.\n"
    finally:
        card.unlink(missing_ok=True)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_bad_model_is_one_line_and_exit_1_before_any_worker_starts(tmp_path, capsys, workers):
    """Issue 35: with --workers 2 uvicorn respawned workers that each died with a traceback, forever."""
    from text_recognizer.api_server.__main__ import main

    bad = tmp_path / "model.pt"
    bad.write_bytes(b"not a model at all")
    assert main(["--model_path", str(bad), "--backend=torch", "--workers", workers, "--port", "0"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {bad} cannot be read as a model file") and err.count("\n") == 1


def test_image_urls_reach_only_public_addresses_and_the_upload_size(recognizer, paragraphs):
    """--allow_urls fetches for strangers: a URL naming this machine (or its private network) is refused
    unless --allow_internal_urls, and a fetched body has the uploads' size limit, not a larger one."""
    import functools
    import http.server
    import threading

    folder = paragraphs[0].parent
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None  # type: ignore[method-assign]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/{paragraphs[0].name}"
    try:
        with client_for(recognizer, allow_urls=True) as client:
            refused = client.post("/v1/recognize", json={"url": url})
            assert_client_error(refused, 400)
            assert "internal address" in refused.json()["error"]["message"]
        with client_for(recognizer, allow_urls=True, allow_internal_urls=True) as client:
            assert client.post("/v1/recognize", json={"url": url}).status_code == 200
        size = paragraphs[0].stat().st_size
        with client_for(recognizer, allow_urls=True, allow_internal_urls=True, max_body_bytes=size - 1) as client:
            too_big = client.post("/v1/recognize", json={"url": url})
            assert_client_error(too_big, 400)
            assert "could not fetch" in too_big.json()["error"]["message"]
    finally:
        server.shutdown()
