"""Small helpers with no training dependencies: image reading, downloads, flag parsing."""
from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import http.client
import io
import math
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
import urllib.error
import urllib.request
import warnings
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
import smart_open
from PIL import Image, ImageOps, UnidentifiedImageError
from tqdm import tqdm

ImageSource = str | Path | bytes | Image.Image | np.ndarray
HASH_CHUNK_BYTES = 1 << 20
# read1() returns as soon as any bytes arrive, at most this many: the progress bar moves and the
# overall deadline is checked even when a server trickles.
DOWNLOAD_CHUNK_BYTES = 64 << 10
DOWNLOAD_TIMEOUT_S = 60  # per connect or read: a server that goes silent for this long is given up
DOWNLOAD_DEADLINE_S = 4 * 3600  # the whole transfer (the IAM archive is 1.3 GB: 20 minutes at 1 MB/s)
IMAGE_URL_TIMEOUT_S = 20
IMAGE_URL_DEADLINE_S = 60
MAX_IMAGE_URL_BYTES = 256 << 20  # a "picture" larger than this from a URL is refused before it fills memory
ACCEPTED_ARRAYS = (
    "(H, W), (H, W, 1), (H, W, 3) RGB or (H, W, 4) RGBA arrays of uint8, uint16 or bool, "
    "integers within 0-255, or finite floats within 0-1 or 0-255"
)


class DataUnavailableError(RuntimeError):
    """A dataset cannot be fetched, read or built; the message says what to do (no traceback needed)."""


class DownloadError(RuntimeError):
    """A file could not be fetched or did not match its checksum; nothing was left under its name."""


def str2bool(value: str | bool) -> bool:
    """argparse type for true/false flags (`--augment_data=false`).

    >>> str2bool("False"), str2bool("1"), str2bool(True)
    (False, True, True)
    """
    if isinstance(value, bool):
        return value
    lowered = value.strip().lower()
    if lowered in ("true", "t", "yes", "y", "1"):
        return True
    if lowered in ("false", "f", "no", "n", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")


def _int_at_least(value: str, minimum: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if number < minimum:
        raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {number}")
    return number


def positive_int(value: str) -> int:
    """argparse type for counts that must be at least 1 (`--batch_size`).

    >>> positive_int("16")
    16
    """
    return _int_at_least(value, 1)


def non_negative_int(value: str) -> int:
    """argparse type for counts that may be 0 (`--num_workers`, `--samples_per_epoch`).

    >>> non_negative_int("0")
    0
    """
    return _int_at_least(value, 0)


def positive_float(value: str) -> float:
    """argparse type for finite amounts above 0 (`--lr`, `--body_deadline_s`).

    >>> positive_float("0.5")
    0.5
    """
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {value!r}") from None
    if not math.isfinite(number) or number <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number above 0, got {value}")
    return number


def _read_bytes(source: str | Path, max_url_bytes: int = MAX_IMAGE_URL_BYTES, deadline_s: float | None = None) -> bytes:
    """The bytes of a local path, an http(s) URL (bounded in time and to `max_url_bytes`) or an s3:// URI.
    A URL's whole fetch, connect to last byte, takes at most `deadline_s` (default IMAGE_URL_DEADLINE_S)."""
    uri = str(source)
    if uri.startswith(("http://", "https://")):
        buffer = io.BytesIO()
        deadline = IMAGE_URL_DEADLINE_S if deadline_s is None else deadline_s
        _stream(uri, buffer, min(IMAGE_URL_TIMEOUT_S, deadline), deadline, description=None, max_bytes=max_url_bytes)
        return buffer.getvalue()
    if "://" not in uri:
        if not Path(uri).is_file():
            raise FileNotFoundError(f"no such image file: {uri}")
        return Path(uri).read_bytes()
    with smart_open.open(uri, "rb") as file:  # s3://: boto's own timeouts and retries apply
        return file.read()


ORIGINAL_SIZE = "text_recognizer.original_size"  # Image.info key: (width, height) of the file before any reduction


def read_image_pil(source: ImageSource, grayscale: bool = False, fit_within: tuple[int, int] | None = None) -> Image.Image:
    """Read an image from a path, an http(s) URL, an s3:// URI, a PIL image or a numpy array.

    Limits: files and URLs of more than Pillow's `Image.MAX_IMAGE_PIXELS` pixels (89.5 million by
    default, about 9459x9459; raise it on PIL.Image to allow more) are refused before they are decoded;
    a URL must answer within IMAGE_URL_TIMEOUT_S, deliver within IMAGE_URL_DEADLINE_S and hold at most
    MAX_IMAGE_URL_BYTES. Numpy arrays: see ACCEPTED_ARRAYS. `fit_within` (width, height): the caller
    shrinks the image to fit that box anyway, so a much larger file is decoded smaller (JPEG at 1/2,
    1/4 or 1/8 scale) or reduced right after decoding, keeping at least twice the fitted size.

    Raises ValueError, with the source named, when the input is not a usable image.
    """
    if isinstance(source, Image.Image):
        image = _upright(source)  # as a file of it would read: a phone photo's EXIF orientation applied
    elif isinstance(source, np.ndarray):
        image = _image_from_array(source)
    elif isinstance(source, (bytes, bytearray, memoryview)):  # an image file's bytes (an upload, a blob)
        image = decode_image(bytes(source), "the image bytes", fit_within)
    elif not isinstance(source, (str, Path)):
        raise ValueError(f"cannot read an image from {type(source).__name__}: pass a path, an http(s) URL, an s3:// "
                         "URI, an image file's bytes, a PIL image or a numpy array")
    else:
        try:
            data = _read_bytes(source)
        except FileNotFoundError:
            raise
        except Exception as error:  # network, permissions, S3 credentials: say which source failed
            raise OSError(f"could not read {source}: {error}") from error
        image = decode_image(data, source, fit_within)
    if grayscale:
        image = to_grayscale(image)
    return image


def decode_image(data: bytes, source: object = "the image", fit_within: tuple[int, int] | None = None) -> Image.Image:
    """An image file's bytes (an upload) -> PIL image, with read_image_pil's limits; ValueError naming `source`."""
    if not data:
        raise ValueError(f"{source} is empty: expected an image file (PNG, JPEG, ...)")
    return _decode(data, source, fit_within)


def _too_many_pixels(source: object, pixels: str) -> ValueError:
    return ValueError(
        f"{source} has {pixels} pixels, more than the limit of {Image.MAX_IMAGE_PIXELS} (PIL.Image.MAX_IMAGE_PIXELS, "
        "a guard against decompression bombs); scale the image down, or raise that limit if you trust the file"
    )


@functools.cache
def enable_heif() -> None:
    """Phones save photos as HEIC/HEIF: Pillow opens them once pillow-heif's opener is registered (done on the
    first image decoded, not at import). Without the package, such files get the usual 'not readable' error."""
    with contextlib.suppress(ImportError):
        import pillow_heif

        pillow_heif.register_heif_opener()


def _decode(data: bytes, source: object, fit_within: tuple[int, int] | None) -> Image.Image:
    image: Image.Image
    enable_heif()
    try:
        with warnings.catch_warnings():
            # Pillow warns above MAX_IMAGE_PIXELS and raises above twice that; the check below refuses both
            # in one line, before the pixels are decoded.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
        width, height = image.size
        if Image.MAX_IMAGE_PIXELS is not None and width * height > Image.MAX_IMAGE_PIXELS:
            raise _too_many_pixels(source, f"{width}x{height}")
        upright_size = (height, width) if image.getexif().get(EXIF_ORIENTATION) in ROTATING_ORIENTATIONS else (width, height)
        if fit_within is not None and (factor := _reduction_factor(upright_size, fit_within)) > 1:
            image.draft(image.mode, (math.ceil(width / factor), math.ceil(height / factor)))  # JPEG only
        image.load()
        image = _upright(image)
    except Image.DecompressionBombError:
        raise _too_many_pixels(source, f"over {2 * (Image.MAX_IMAGE_PIXELS or 0)}") from None
    except (UnidentifiedImageError, OSError) as error:
        raise ValueError(f"{source} is not a readable image ({error}); expected PNG, JPEG, TIFF, ...") from error
    if fit_within is not None and (factor := _reduction_factor(image.size, fit_within)) > 1:
        # reduce() averages pixel values: modes that are not intensities are converted first
        if image.mode in ("1", "P", "PA"):
            image = image.convert("RGBA")
        elif image.mode.startswith("I;16"):
            image = image.convert("I")
        image = image.reduce(factor)
    # The size as given (after EXIF orientation), where the pixels were reduced on the way: line boxes are
    # mapped back into it (page_result.PageGeometry).
    image.info[ORIGINAL_SIZE] = upright_size
    return image


EXIF_ORIENTATION = 0x0112  # the EXIF tag a phone writes instead of rotating the pixels
ROTATING_ORIENTATIONS = (5, 6, 7, 8)  # the orientations that swap width and height


def _upright(image: Image.Image) -> Image.Image:
    """The image as it is meant to be seen: its EXIF orientation applied (a phone photo held upright is
    stored sideways with orientation 6 or 8, and was read sideways)."""
    if image.getexif().get(EXIF_ORIENTATION, 1) == 1:
        return image
    return ImageOps.exif_transpose(image)


def _reduction_factor(size: tuple[int, int], fit_within: tuple[int, int]) -> int:
    """How many times smaller an image may be read whose user fits it into `fit_within` anyway: it keeps
    at least twice the fitted size along each side, so the fitted image loses nothing.

    >>> _reduction_factor((6400, 5760), (640, 576)), _reduction_factor((1000, 900), (640, 576))
    (5, 1)
    """
    scale = min(fit_within[0] / size[0], fit_within[1] / size[1])
    return max(1, int(1 / (2 * scale)))


def _image_from_array(array: np.ndarray) -> Image.Image:
    """A PIL image from the numpy arrays people commonly hold; anything else is refused, listing what is accepted."""
    def refuse(why: str) -> ValueError:
        return ValueError(f"cannot read a numpy array of shape {array.shape} and dtype {array.dtype} ({why}); "
                          f"accepted: {ACCEPTED_ARRAYS}")

    if array.ndim >= 2 and Image.MAX_IMAGE_PIXELS is not None and array.shape[0] * array.shape[1] > Image.MAX_IMAGE_PIXELS:
        # the files' limit, before any conversion copies it: a 20000x20000 array took 19 s and 3.8 GB
        raise refuse(f"{array.shape[1]}x{array.shape[0]} pixels, more than the limit of {Image.MAX_IMAGE_PIXELS} "
                     "(PIL.Image.MAX_IMAGE_PIXELS); scale it down")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4))):
        raise refuse("not an image shape")
    if array.size == 0:
        raise refuse("no pixels")
    kind = array.dtype.kind
    if kind == "b":
        array = array.astype(np.uint8) * 255
    elif kind == "f":
        if not np.isfinite(array).all():
            raise refuse("NaN or infinite values")
        low, high = float(array.min()), float(array.max())
        if low < 0 or high > 255:
            raise refuse(f"values from {low:g} to {high:g}")
        array = (array * 255 if high <= 1 else array).round().astype(np.uint8)
    elif array.dtype == np.uint16:
        if array.ndim == 3:  # Pillow has no 16-bit colour mode: keep the tones in 8 bits
            array = (array / 257).round().astype(np.uint8)
    elif kind in "iu" and array.dtype != np.uint8:
        low, high = int(array.min()), int(array.max())
        if low < 0 or high > 255:
            raise refuse(f"values from {low} to {high}")
        array = array.astype(np.uint8)
    elif array.dtype != np.uint8:
        raise refuse("not a number type")
    return Image.fromarray(np.ascontiguousarray(array))


def to_grayscale(image: Image.Image) -> Image.Image:
    """8-bit grayscale from any mode: RGBA is flattened on white; 16-bit keeps its tones (/257);
    float images in [0, 1] are scaled by 255, other wide-range images are stretched to 0-255."""
    if image.mode == "L":
        return image
    if image.mode.startswith("I;16"):
        array = np.asarray(image, dtype=np.float64) / 257
        return Image.fromarray(array.round().astype(np.uint8), mode="L")
    if image.mode in ("I", "F"):
        array = np.asarray(image, dtype=np.float64)
        low, high = float(array.min()), float(array.max())
        if image.mode == "F" and low >= 0 and high <= 1:
            low, high = 0.0, 1.0
        scaled = (array - low) / (high - low) * 255 if high > low else np.zeros_like(array)
        return Image.fromarray(scaled.round().astype(np.uint8), mode="L")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return image.convert("L")


def make_readable(path: str | Path) -> None:
    """Give a file made by mkstemp/mkdtemp (private, 0600/0700) the permissions of a normal one."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, (0o777 if Path(path).is_dir() else 0o666) & ~umask)


@contextlib.contextmanager
def atomic_path(final: str | Path, is_dir: bool = False) -> Iterator[Path]:
    """A temporary file (or folder) beside `final` to write into; renamed onto `final` when the block
    succeeds, replacing what was there, and removed when it fails: `final` is never half-written."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{final.name}."
    if is_dir:
        temp = Path(tempfile.mkdtemp(dir=final.parent, prefix=prefix))
    else:
        fd, name = tempfile.mkstemp(dir=final.parent, prefix=prefix, suffix=".part")
        os.close(fd)
        temp = Path(name)
    try:
        yield temp
        make_readable(temp)
        if is_dir and final.exists():
            old = Path(tempfile.mkdtemp(dir=final.parent, prefix=f"{prefix}old."))
            os.replace(final, old / final.name)
            os.replace(temp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(temp, final)
    except BaseException:
        if temp.is_dir():
            shutil.rmtree(temp, ignore_errors=True)
        else:
            temp.unlink(missing_ok=True)
        raise


# Zip archives are expanded under caps, whether or not a checksum vouched for them (a caller may skip it):
# a 3.1 MB bomb once wrote 3.22 GB. Deflate reaches about 1000:1 on zeros; scans, XML and .mat files stay
# far below 100:1, and the largest archive here (IAM, 1.3 GB) expands to a few GB.
MAX_EXTRACTED_BYTES = 16 << 30
MAX_COMPRESSION_RATIO = 100


def extract_zip(archive: str | Path, destination: str | Path, max_bytes: int = MAX_EXTRACTED_BYTES,
                max_ratio: float = MAX_COMPRESSION_RATIO) -> None:
    """Expand `archive` under `destination`, counting the bytes actually written (a member's stated size
    may lie): more than `max_bytes` in all, or more than `max_ratio` times the archive's size, stops it with
    a DataUnavailableError. Members naming absolute paths or "..", links and devices are refused. Write
    into a temporary folder (atomic_path) so that a refused archive leaves nothing behind."""
    archive, destination = Path(archive), Path(destination)
    limit = min(max_bytes, int(max_ratio * max(archive.stat().st_size, 1 << 20)))
    written = 0
    with zipfile.ZipFile(archive) as zipped:
        for member in zipped.infolist():
            parts = Path(member.filename.replace("\\", "/")).parts
            if not parts or Path(member.filename).is_absolute() or ".." in parts or ":" in parts[0]:
                raise DataUnavailableError(f"{archive} holds a member named {member.filename[:100]!r}, outside the "
                                           "folder it is extracted to: not the archive it should be")
            target = destination.joinpath(*parts)
            if member.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zipped.open(member) as source, open(target, "wb") as output:
                while chunk := source.read(HASH_CHUNK_BYTES):
                    written += len(chunk)
                    if written > limit:
                        raise DataUnavailableError(
                            f"{archive} expands to more than {limit:,} bytes ({max_ratio:g} times its size, at most "
                            f"{max_bytes:,}): a damaged archive or a zip bomb; delete it and download it again")
                    output.write(chunk)


def read_zip_member(archive: str | Path, name: str, max_bytes: int = MAX_EXTRACTED_BYTES,
                    max_ratio: float = MAX_COMPRESSION_RATIO) -> bytes:
    """One member's bytes, under extract_zip's caps; KeyError when there is no such member."""
    archive = Path(archive)
    limit = min(max_bytes, int(max_ratio * max(archive.stat().st_size, 1 << 20)))
    with zipfile.ZipFile(archive) as zipped, zipped.open(name) as source:
        data = source.read(limit + 1)
    if len(data) > limit:
        raise DataUnavailableError(f"{archive}'s {name} expands to more than {limit:,} bytes: a damaged archive or a "
                                   "zip bomb; delete it and download it again")
    return data


def compute_sha256(filename: str | Path) -> str:
    digest = hashlib.sha256()
    with open(filename, "rb") as file:
        for chunk in iter(lambda: file.read(HASH_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download_url(
    url: str,
    filename: str | Path,
    sha256: str | None = None,
    timeout: float = DOWNLOAD_TIMEOUT_S,
    deadline: float = DOWNLOAD_DEADLINE_S,
    size: int | None = None,
) -> Path:
    """Download `url` to `filename` with a progress bar, check its sha256, and only then rename it into place.

    The bytes go to a temporary file beside the target, so an interrupted (Ctrl-C or SIGTERM), truncated
    or corrupt download never leaves a file under the final name, nor the temporary one. `timeout`
    bounds each connect and read, `deadline` the whole transfer (give or take one `timeout`).
    Without a checksum, what is guaranteed is only the length: the file has the `size` bytes given here
    and the Content-Length the server announced, whichever are known. With neither (a body that ends
    when the connection closes), a connection dropped early cannot be told from the end: pass sha256
    or size. Raises DownloadError saying what went wrong.
    """
    filename = Path(filename)
    with _sigterm_raises(), atomic_path(filename) as temp_name:
        with open(temp_name, "wb") as out:
            _stream(url, out, timeout, deadline, description=filename.name, expected_size=size)
        if sha256 is not None:
            actual = compute_sha256(temp_name)
            if actual != sha256:
                raise DownloadError(
                    f"{url} does not match its checksum (expected sha256 {sha256}, got {actual}); "
                    "the file may be corrupt or changed upstream"
                )
    return filename


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """SIGTERM's default action ends the process on the spot, skipping the `finally` that removes the
    temporary file: while the block runs, it raises SystemExit instead. Only where nobody else handles
    SIGTERM (Lightning, a web server) and in the main thread, the only one that may set handlers."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
        yield
        return

    def raise_exit(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, raise_exit)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


class _DeadlinePassed(TimeoutError):
    """The overall deadline of a transfer passed before its answer was complete."""


def _raise_if_passed(give_up: float) -> None:
    if time.monotonic() >= give_up:
        raise _DeadlinePassed("the overall deadline passed")


class _DeadlineReader(io.RawIOBase):
    """A socket's reading side whose every read waits at most until `give_up` (and at most the socket's own
    per-read timeout). A per-read timeout alone let a server that trickles its status line and headers, one
    byte every 5 s, hold a fetch for 150 s: http.client reads them through this, so the deadline holds there
    as well as in the body."""

    def __init__(self, sock: socket.socket, give_up: float) -> None:
        super().__init__()
        self.sock, self.give_up = sock, give_up
        self.per_read = sock.gettimeout()
        self.raw = sock.makefile("rb", buffering=0)  # counted by the socket: it stays open while this reads

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int | None:
        _raise_if_passed(self.give_up)
        remaining = max(self.give_up - time.monotonic(), 1e-3)
        self.sock.settimeout(min(self.per_read or math.inf, remaining) if remaining < math.inf else self.per_read)
        try:
            return self.raw.readinto(buffer)
        except TimeoutError:
            _raise_if_passed(self.give_up)
            raise

    def close(self) -> None:
        self.raw.close()
        super().close()


class _DeadlineSocket:
    """A connected socket for http.client whose responses are read through a _DeadlineReader."""

    def __init__(self, sock: socket.socket, give_up: float) -> None:
        self._sock, self._give_up = sock, give_up

    def makefile(self, mode: str = "r", *args: Any, **kwargs: Any) -> IO[bytes]:
        assert mode == "rb", mode  # http.client reads its responses only this way
        return io.BufferedReader(_DeadlineReader(self._sock, self._give_up))

    def __getattr__(self, name: str) -> Any:  # sendall, close, settimeout...: the socket's own
        return getattr(self._sock, name)


def _connect_within(connection: http.client.HTTPConnection, connect: Callable[[], None], give_up: float) -> None:
    """`connect` (an HTTP(S)Connection's own, TLS included) within the time left, then wrap its socket."""
    _raise_if_passed(give_up)
    remaining = max(give_up - time.monotonic(), 1e-3)
    connection.timeout = remaining if connection.timeout is None else min(connection.timeout, remaining)
    try:
        connect()
    except TimeoutError:
        _raise_if_passed(give_up)
        raise
    connection.sock = _DeadlineSocket(connection.sock, give_up)  # type: ignore[assignment]  # what http.client uses


class _DeadlineHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, *, give_up: float = math.inf, **kwargs: Any) -> None:
        super().__init__(host, **kwargs)
        self.give_up = give_up

    def connect(self) -> None:
        _connect_within(self, super().connect, self.give_up)


class _DeadlineHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, *, give_up: float = math.inf, **kwargs: Any) -> None:
        super().__init__(host, **kwargs)
        self.give_up = give_up

    def connect(self) -> None:
        _connect_within(self, super().connect, self.give_up)


class _DeadlineHTTPHandler(urllib.request.HTTPHandler):
    """urllib's http handler, its connections (redirects included) bounded by one deadline, `give_up`."""

    def __init__(self, give_up: float) -> None:
        super().__init__()
        self.give_up = give_up

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_DeadlineHTTPConnection, req, give_up=self.give_up)


class _DeadlineHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, give_up: float) -> None:
        super().__init__()  # the default TLS context, as urllib's own handler has
        self.give_up = give_up

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_DeadlineHTTPSConnection, req, give_up=self.give_up)


def _stream(
    url: str,
    out: IO[bytes],
    timeout: float,
    deadline: float,
    description: str | None,
    expected_size: int | None = None,
    max_bytes: int | None = None,
) -> None:
    """Copy the body of `url` into `out`, checking it arrived whole, in time and not too large."""
    give_up = time.monotonic() + deadline
    opener = urllib.request.build_opener(_DeadlineHTTPHandler(give_up), _DeadlineHTTPSHandler(give_up))
    try:
        response = opener.open(url, timeout=timeout)
    except urllib.error.HTTPError as error:  # before URLError, which it subclasses
        raise DownloadError(f"could not download {url} (HTTP {error.code} {error.reason})") from error
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        reason = getattr(error, "reason", error)
        if isinstance(reason, _DeadlinePassed):
            raise DownloadError(f"download of {url} did not finish within {deadline:g} s (no answer yet: the "
                                "server is too slow); try again later or place the file yourself") from error
        raise DownloadError(f"could not download {url} ({reason})") from error
    with response:
        announced = response.headers.get("Content-Length")
        total = int(announced) if announced is not None else expected_size
        if expected_size is not None and total != expected_size:
            raise DownloadError(f"{url} has {total} bytes, expected {expected_size}: the file changed upstream?")
        if max_bytes is not None and total is not None and total > max_bytes:
            raise DownloadError(f"{url} has {total} bytes, more than the {max_bytes} allowed")
        read = getattr(response, "read1", response.read)  # read1: whatever has arrived, without waiting for more
        received = 0
        with tqdm(total=total, unit="B", unit_scale=True, desc=description, disable=None if description else True) as progress:
            try:
                for chunk in iter(lambda: read(DOWNLOAD_CHUNK_BYTES), b""):
                    out.write(chunk)
                    received += len(chunk)
                    progress.update(len(chunk))
                    if max_bytes is not None and received > max_bytes:
                        raise DownloadError(f"{url} sent more than the {max_bytes} bytes allowed")
                    if time.monotonic() > give_up:
                        raise _DeadlinePassed
            except _DeadlinePassed:
                raise DownloadError(
                    f"download of {url} did not finish within {deadline:g} s ({received} bytes received); "
                    "the server is too slow: try again later or place the file yourself"
                ) from None
            except (OSError, urllib.error.URLError, http.client.HTTPException) as error:
                raise DownloadError(f"download of {url} broke off after {received} bytes ({error})") from error
    if total is not None and received != total:
        raise DownloadError(f"download of {url} was truncated: {received} of {total} bytes")
