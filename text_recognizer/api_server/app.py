"""The REST API and the web page: `create_app(Settings(...))`, or `text-recognizer serve` (make serve).

POST /v1/recognize  an image as a multipart upload (field "image"); JSON {"image_base64": ...} or
                    {"url": ...} only when Settings.allow_json / allow_urls enable them.
                    -> {"text", "confidence", "lines", "warnings", "image_size", "read_by", "model", "elapsed_ms",
                    "request_id"} (api_server/responses.py), each line {"text", "confidence", "box", "polygon",
                    "baseline"} in the uploaded image's pixels; ?format=page|alto|hocr: that XML document instead.
GET  /healthz       {"status": "ok", ...}
GET  /v1/model      what is loaded: class, backend, its model_config, data config, training run command
GET  /              the web page (static/index.html)
GET  /docs          the API in Swagger UI, from files installed with the server (works offline)

Every error is a JSON {"error": {"status", "message"}, "request_id"} with a 4xx status (503 when
overloaded); nothing reaches a client as a traceback. Errors are logged with the request id.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import functools
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from PIL import Image
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from text_recognizer.api_server.batching import Batcher, Overloaded
from text_recognizer.api_server.responses import Recognition, recognition
from text_recognizer.metadata import iam_paragraphs as metadata
from text_recognizer.paragraph_text_recognizer import ParagraphTextRecognizer, PreparedPage
from text_recognizer.result_formats import MEDIA_TYPES, XML_FORMATS, render
from text_recognizer.run_files import MODEL_CARD_FILE, RUN_COMMAND_FILE, default_model_path
from text_recognizer.stems.paragraph_core import READ_BY_LINES
from text_recognizer.util import decode_image, enable_heif

logger = logging.getLogger("text_recognizer.api_server")
DOCS_ASSETS_URL = "/docs-assets"  # Swagger UI's files (docs_assets())
HEADER_DEADLINE_STATE = "header_deadline_s"  # the lifespan state's key that api_server.connections reads
ResponseFormat = Literal["json", "text", "page", "alto", "hocr"]  # result_formats.FORMATS; JSON is the API's own
STATIC_DIRNAME = Path(__file__).resolve().parent / "static"
IMAGE_TYPES = ("image/png", "image/jpeg", "image/tiff", "image/bmp", "image/gif", "image/webp", "image/heic", "image/heif")


@dataclass
class Settings:
    model_path: Path = dataclasses.field(default_factory=default_model_path)
    backend: str = "auto"  # onnx when the exported graphs are beside the model, else torch
    max_body_bytes: int = 20 << 20  # a whole request; larger ones get 413 before they are read
    max_pixels: int = 40_000_000  # width x height of an upload (a decompression-bomb guard); 413 above
    max_in_flight: int = 32  # requests being served at once; more get 503 at once
    max_batch: int = 8
    batch_window_s: float = 0.01  # how long a request waits for others to share its batch
    allow_json: bool = False  # JSON bodies with base64 images
    allow_urls: bool = False  # JSON bodies naming an image URL (the server fetches it: enable knowingly)
    allow_internal_urls: bool = False  # URLs may name loopback, private or link-local addresses (this machine, its network)
    threads: int = 0  # the model's CPU threads per worker (0: auto, SERVER_TORCH_THREADS for torch, one per core for onnx)
    line_decoding: str = ""  # a line model's: "" the recognizer's default (joint), "ctc" about 2.5x faster, "attention"
    show_run_command: bool = False  # GET /v1/model gives the training command (the trainer's paths) verbatim
    # A slow or stalled client holds a connection and the part of its body sent so far, never a place in
    # flight (taken once the image is read): these bound how long. A request body (an upload) must arrive
    # whole within body_deadline_s of its headers, else 408; an image URL is fetched, connect to last byte,
    # within the same time, else 400. A connection must send a request's headers within header_deadline_s
    # of opening (or of its previous answer), else it is closed (api_server.connections).
    body_deadline_s: float = 30.0
    header_deadline_s: float = 10.0
    max_url_fetches: int = 4  # image URLs fetched at once (their own threads, never the uploads'); more get 503


class ClientError(Exception):
    """A request the server will not serve: answered with `status` and `message`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


class BodyLimit:
    """ASGI middleware: a body over `max_bytes` is refused with 413, by its Content-Length before it is
    read, or while it streams in (chunked uploads); a body still arriving `deadline_s` after the request
    began is refused with 408 (a client that sends part of its body and stalls)."""

    def __init__(self, app: ASGIApp, max_bytes: int, deadline_s: float) -> None:
        self.app, self.max_bytes, self.deadline_s = app, max_bytes, deadline_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            response = error_response(413, self._message(), request_id(scope))
            await response(scope, receive, send)
            return
        received = 0
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self.deadline_s

        async def limited_receive() -> Message:
            nonlocal received
            try:
                message = await asyncio.wait_for(receive(), max(give_up - loop.time(), 0))
            except TimeoutError:
                raise ClientError(408, f"the request body did not arrive within {self.deadline_s:g} s "
                                       f"({received} bytes came); send it whole, or a smaller image") from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise ClientError(413, self._message())
            return message

        await self.app(scope, limited_receive, send)

    def _message(self) -> str:
        return f"the request body is larger than the limit of {self.max_bytes} bytes ({self.max_bytes >> 20} MB)"


def request_id(scope: Scope) -> str:
    state = scope.setdefault("state", {})
    if "request_id" not in state:
        given = dict(scope.get("headers", [])).get(b"x-request-id", b"").decode("latin-1")[:64]
        state["request_id"] = given if given.replace("-", "").isalnum() else uuid.uuid4().hex[:16]
    return state["request_id"]


def error_response(status: int, message: str, rid: str) -> JSONResponse:
    return JSONResponse(
        {"error": {"status": status, "message": message}, "request_id": rid}, status_code=status,
        headers={"X-Request-ID": rid},
    )


# Measured with api_server.load_test on an idle 2-core machine (docs/serving.md, "Under load"): behind the server
# the torch backend serves twice the requests a second on one thread (2.2 against 1.2 at 16 clients,
# half the latency at 1), while onnx is best on its default threads (3.0 against 2.4).
SERVER_TORCH_THREADS = 1


def _threads(settings: Settings, backend: str) -> int | None:
    if settings.threads:
        return settings.threads
    return SERVER_TORCH_THREADS if backend == "torch" else None


def _resolve_backend(settings: Settings) -> str:
    if settings.backend != "auto":
        return settings.backend
    from text_recognizer.onnx_model import CONFIG_FILENAME

    return "onnx" if (Path(settings.model_path).parent / CONFIG_FILENAME).is_file() else "torch"


def create_app(settings: Settings | None = None, recognizer: ParagraphTextRecognizer | None = None) -> FastAPI:
    settings = settings or Settings()
    if recognizer is None:
        backend = _resolve_backend(settings)
        recognizer = ParagraphTextRecognizer(settings.model_path, backend=backend, threads=_threads(settings, backend),
                                             line_decoding=settings.line_decoding or None)
    model_info = describe(recognizer, settings.show_run_command)
    batcher = Batcher(recognizer.predict_prepared, settings.max_batch, settings.batch_window_s, settings.max_in_flight)
    fetches = FetchPool(settings.max_url_fetches)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        await batcher.start()
        # The lifespan's state reaches the server's connections too: api_server.connections reads its
        # header deadline there (uvicorn has no setting for it).
        yield {HEADER_DEADLINE_STATE: settings.header_deadline_s}
        await batcher.stop()
        fetches.stop()

    # /docs is served below from files installed with the server (Swagger UI was loaded from a CDN: a blank
    # page offline).
    app = FastAPI(title="text_recognizer", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.mount(DOCS_ASSETS_URL, StaticFiles(directory=docs_assets()), name="docs-assets")
    app.state.settings, app.state.batcher, app.state.recognizer = settings, batcher, recognizer
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes, deadline_s=settings.body_deadline_s)

    @app.exception_handler(ClientError)
    async def client_error(request: Request, error: ClientError) -> JSONResponse:
        rid = request_id(request.scope)
        logger.info("request %s: %d %s", rid, error.status, error.message)
        response = error_response(error.status, error.message, rid)
        if error.status in (408, 413):  # the body was not read whole: the connection cannot carry another request
            response.headers["Connection"] = "close"
        return response

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        return error_response(error.status_code, str(error.detail), request_id(request.scope))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
        return error_response(422, "invalid request: " + "; ".join(str(e.get("msg")) for e in error.errors())[:500],
                              request_id(request.scope))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        rid = request_id(request.scope)
        logger.exception("request %s failed", rid)
        return error_response(500, f"internal error (request id {rid}); the server log has the details", rid)

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC_DIRNAME / "index.html", media_type="text/html")

    @app.get("/docs", include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(openapi_url=root + (app.openapi_url or "/openapi.json"), title="text_recognizer API",
                                   swagger_js_url=f"{root}{DOCS_ASSETS_URL}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{root}{DOCS_ASSETS_URL}/swagger-ui.css",
                                   swagger_favicon_url=f"{root}{DOCS_ASSETS_URL}/favicon.png")

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "in_flight": batcher.in_flight, "batches_run": batcher.batches_run}

    @app.get("/v1/model")
    async def model() -> dict[str, Any]:
        return model_info

    xml_types = {fmt: {"schema": {"type": "string"}} for fmt in sorted({MEDIA_TYPES[f] for f in XML_FORMATS})}

    @app.post("/v1/recognize", response_model=Recognition, responses={200: {"content": xml_types}},
              openapi_extra={"requestBody": recognize_request_body(settings)})
    async def recognize(request: Request, normalized: bool = False, format: ResponseFormat = "json") -> Response:
        """The text of a handwritten page, and each line's text, confidence and place in the image.

        `lines` are objects: {"text", "confidence", "box": [x0, y0, x1, y1], "polygon": [[x, y], ...],
        "baseline"}, in the uploaded image's pixels (after its EXIF orientation). **Breaking change** (issue 34):
        `lines` was a list of strings (the text split at "\n"); `[line["text"] for line in body["lines"]]`
        gives them back. `text`, `confidence` and `warnings` are as before.

        `?format=page|alto|hocr` answers with that document instead of JSON (PAGE XML 2019, ALTO v4,
        hOCR; media types application/xml and application/xhtml+xml); `?format=text` with the text alone.
        `?normalized=true` (JSON only) adds the page as the model read it (a PNG data URL, white ink on black,
        after the photo's light, sheet, skew and rulings were corrected) and its line boxes on it: to see what
        went wrong."""
        started = time.perf_counter()
        rid = request_id(request.scope)
        # The image is read before a place in flight is taken: 32 clients stalled halfway through their
        # bodies held all 32 places, and every other upload got 503 for as long as they stayed (issue 35).
        data, name = await read_upload(request, settings, fetches)
        try:
            batcher.acquire()
        except Overloaded as error:
            raise ClientError(503, str(error)) from None
        try:
            prepared = await asyncio.to_thread(preprocess, recognizer, data, name, settings)
            prediction = await batcher.submit(prepared)
        finally:
            batcher.release()
        if format != "json":
            # the file name the document cites: the upload's or the URL's ("the upload" without one: "image")
            image_name = Path(name.split("?")[0]).name
            document = render(prediction, format, image_name=image_name if "." in image_name else "image")
            return Response(document, media_type=MEDIA_TYPES[format], headers={"X-Request-ID": rid})
        body = recognition(
            prediction,
            model={"class": model_info["class"], "backend": model_info["backend"], "source": model_info["source"]},
            elapsed_ms=round((time.perf_counter() - started) * 1e3, 1),
            request_id=rid,
        )
        if normalized:
            body["normalized"] = await asyncio.to_thread(normalized_view, prepared)
        return JSONResponse(body, headers={"X-Request-ID": rid})

    return app


def docs_assets() -> Path:
    """Swagger UI's script, stylesheet and icon (swagger-ui-dist 5) as the fastapi-offline package installs them."""
    import fastapi_offline

    return Path(fastapi_offline.__file__).resolve().parent / "static"


def recognize_request_body(settings: Settings) -> dict[str, Any]:
    """The OpenAPI request body of /v1/recognize. read_upload reads the body itself (for its limits and
    messages), so FastAPI cannot see it: written here, it gives /docs a file chooser ("Try it out")."""
    content: dict[str, Any] = {"multipart/form-data": {"schema": {
        "type": "object", "required": ["image"],
        "properties": {"image": {"type": "string", "format": "binary",
                                 "description": f"the image file: {', '.join(IMAGE_TYPES)}; at most "
                                                f"{settings.max_body_bytes >> 20} MB and {settings.max_pixels:,} pixels"}},
    }}}
    if settings.allow_json or settings.allow_urls:
        properties: dict[str, Any] = {}
        if settings.allow_json:
            properties["image_base64"] = {"type": "string", "contentEncoding": "base64", "description": "the image file, base64"}
        if settings.allow_urls:
            properties["url"] = {"type": "string", "format": "uri", "description": "an http(s) URL the server fetches"}
        content["application/json"] = {"schema": {"type": "object", "properties": properties,
                                                  "minProperties": 1, "maxProperties": 1}}
    return {"required": True, "content": content}


def normalized_view(prepared: PreparedPage) -> dict[str, Any]:
    """The page the model read as a PNG data URL, its size, and its lines' boxes [top, bottom, left, right]."""
    import base64
    import io

    encoded = io.BytesIO()
    prepared.page.save(encoded, "PNG")
    return {
        "image": "data:image/png;base64," + base64.b64encode(encoded.getvalue()).decode("ascii"),
        "width": prepared.page.width,
        "height": prepared.page.height,
        "line_boxes": [list(box) for box in prepared.boxes],
        "steps": prepared.normalized.steps,
    }


def describe(recognizer: ParagraphTextRecognizer, show_run_command: bool = False) -> dict[str, Any]:
    """GET /v1/model: the loaded model's class, backend, settings, data config (the mapping as its size), and
    whether it has a training run command (the command itself with show_run_command), and its model card's
    text (MODEL_CARD.md beside the model; None when it has none)."""
    path = Path(recognizer.model_path)
    folder = path if path.is_dir() else path.parent
    run_command = folder / RUN_COMMAND_FILE
    if recognizer.backend == "onnx":
        config = recognizer.onnx_model.config
        model_class, settings = config["model_class"], config["model_config"]
    else:
        model_class, settings = type(recognizer.model).__name__, dataclasses.asdict(recognizer.model.config)
    data_config = {key: value for key, value in recognizer.data_config.items() if key != "mapping"}
    return {
        "class": model_class,
        "backend": recognizer.backend,
        "threads": recognizer.threads,  # None: the libraries' default, one per core
        "read_by": recognizer.read_by,
        "line_decoding": recognizer.line_decoding if recognizer.read_by == READ_BY_LINES else None,
        "source": path.name,
        "data_config": {**data_config, "mapping_size": len(recognizer.mapping)},
        "model_config": settings,
        # The training command is the trainer's (their paths and folders): said only when a server asks
        # for it (Settings.show_run_command), else whether there is one.
        "run_command": (run_command.read_text().strip() if run_command.is_file() else None) if show_run_command
        else run_command.is_file(),
        "model_card": (folder / MODEL_CARD_FILE).read_text() if (folder / MODEL_CARD_FILE).is_file() else None,
    }


class FetchPool:
    """Threads of their own for image URL fetches, at most `size` at once; one more is refused at once (503).
    Fetches and upload preprocessing shared asyncio's default threads: 7 URLs whose server trickled its
    headers froze every multipart upload for about 150 s (issue 35)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._slots = threading.BoundedSemaphore(size)  # released by the thread when the fetch ends, not when
        self._executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix="url-fetch")  # a client leaves

    async def run(self, fetch: Callable[[], bytes]) -> bytes:
        if not self._slots.acquire(blocking=False):
            raise ClientError(503, f"{self.size} image URLs are being fetched, the limit is {self.size}; retry "
                                   "shortly, or upload the image itself")

        def job() -> bytes:
            try:
                return fetch()
            finally:
                self._slots.release()

        try:
            future = self._executor.submit(job)
        except BaseException:
            self._slots.release()
            raise
        return await asyncio.wrap_future(future)

    def stop(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)  # a fetch under way ends by its deadline


async def read_upload(request: Request, settings: Settings, fetches: FetchPool) -> tuple[bytes, str]:
    """The image bytes of a request and a name for messages; ClientError for anything else."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        try:
            form = await request.form(max_files=1, max_fields=8)
        except ClientError:
            raise
        except Exception as error:  # a malformed multipart body
            raise ClientError(400, f"the multipart body cannot be parsed ({error})") from None
        upload = form.get("image")
        if upload is None or isinstance(upload, str):
            raise ClientError(400, 'no file: send the image as a multipart file field named "image"')
        upload_type = (upload.content_type or "").lower()
        if upload_type and upload_type not in IMAGE_TYPES and upload_type != "application/octet-stream":
            raise ClientError(415, f"{upload.filename or 'the upload'} is {upload_type}, not an image ({', '.join(IMAGE_TYPES)})")
        return await upload.read(), upload.filename or "the upload"
    if content_type == "application/json":
        if not (settings.allow_json or settings.allow_urls):
            raise ClientError(415, "JSON bodies are disabled on this server: upload the image as multipart/form-data")
        try:
            payload = await request.json()
        except ClientError:
            raise
        except Exception:
            raise ClientError(400, "the body is not valid JSON") from None
        if not isinstance(payload, dict):
            raise ClientError(400, 'expected a JSON object with "image_base64" or "url"')
        if "url" in payload:
            if not settings.allow_urls:
                raise ClientError(400, "image URLs are disabled on this server: upload the image itself")
            url = str(payload["url"])
            return await fetches.run(functools.partial(_fetch_url, url, settings)), url[:200]
        if "image_base64" in payload and settings.allow_json:
            try:
                return base64.b64decode(str(payload["image_base64"]), validate=True), "the base64 image"
            except (binascii.Error, ValueError):
                raise ClientError(400, "image_base64 is not valid base64") from None
        raise ClientError(400, 'expected "image_base64"' + (' or "url"' if settings.allow_urls else ""))
    raise ClientError(415, f"unsupported content type {content_type or '(none)'}: send multipart/form-data with an \"image\" file")


def _fetch_url(url: str, settings: Settings) -> bytes:
    """An image URL's bytes, bounded in time (body_deadline_s, connect to last byte) and by the upload limit (max_body_bytes): one
    size cap whatever way the image comes. A host that resolves to this machine or its private network is
    refused unless allow_internal_urls (a server that fetches for strangers must not reach inside). The name
    is resolved again by the fetch: a host that changes its answer in between is not stopped here."""
    import ipaddress
    import socket
    import urllib.parse

    if not url.startswith(("http://", "https://")):
        raise ClientError(400, "only http(s) URLs are accepted")
    from text_recognizer.util import _read_bytes

    if not settings.allow_internal_urls:
        parts = urllib.parse.urlsplit(url)
        try:
            addresses = {str(info[4][0]) for info in socket.getaddrinfo(parts.hostname or "", parts.port or 80)}
        except (OSError, ValueError, UnicodeError) as error:
            raise ClientError(400, f"could not resolve the host of {url[:200]}: {str(error)[:100]}") from None
        internal = sorted(a for a in addresses if not ipaddress.ip_address(a.split("%")[0]).is_global)
        if internal:
            raise ClientError(400, f"{url[:200]} names an internal address ({internal[0]}); this server fetches only "
                                   "public addresses (--allow_internal_urls to allow)")
    try:
        return _read_bytes(url, max_url_bytes=settings.max_body_bytes, deadline_s=settings.body_deadline_s)
    except Exception as error:
        raise ClientError(400, f"could not fetch {url[:200]}: {str(error)[:200]}") from None


def preprocess(recognizer: ParagraphTextRecognizer, data: bytes, name: str, settings: Settings) -> PreparedPage:
    """Bytes -> the page on its way to the model, refusing what is not a usable image with a ClientError."""
    if not data:
        raise ClientError(400, f"{name} is empty: expected an image file (PNG, JPEG, HEIC, ...)")
    enable_heif()  # phone photos
    try:
        import io

        with Image.open(io.BytesIO(data)) as header:  # reads the header only
            width, height = header.size
    except Image.DecompressionBombError:  # Pillow's own refusal above twice its pixel limit: too large, not "no image"
        raise ClientError(413, f"{name} has more pixels than Pillow opens (over {2 * (Image.MAX_IMAGE_PIXELS or 0)}), "
                               f"more than the limit of {settings.max_pixels}; scale it down") from None
    except Exception:
        raise ClientError(415, f"{name} is not an image file (PNG, JPEG, TIFF, ...)") from None
    if width * height > settings.max_pixels:
        raise ClientError(413, f"{name} is {width}x{height} = {width * height} pixels, more than the limit of "
                               f"{settings.max_pixels}; scale it down")
    try:
        image = decode_image(data, name, fit_within=(metadata.IMAGE_WIDTH, metadata.IMAGE_HEIGHT))
        return recognizer.prepare(image)  # in colour: normalization reads ink of any colour on its paper
    except ValueError as error:  # truncated, corrupt, no pixels
        raise ClientError(422, str(error)[:500]) from None
