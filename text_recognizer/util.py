"""Small helpers with no training dependencies: image reading, downloads, flag parsing."""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.client
import io
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import numpy as np
import smart_open
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

ImageSource = str | Path | Image.Image | np.ndarray
DOWNLOAD_CHUNK_BYTES = 1 << 20
DOWNLOAD_TIMEOUT_S = 60


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


def _open_binary(uri: str | Path) -> IO[bytes]:
    """Open a local path, an http(s) URL or an s3:// URI for reading bytes."""
    uri = str(uri)
    if "://" not in uri:
        if not Path(uri).is_file():
            raise FileNotFoundError(f"no such image file: {uri}")
        return open(uri, "rb")
    return smart_open.open(uri, "rb")


def read_image_pil(source: ImageSource, grayscale: bool = False) -> Image.Image:
    """Read an image from a path, an http(s) URL, an s3:// URI, a PIL image or a numpy array.

    Raises ValueError, with the source named, when the bytes are not an image.
    """
    if isinstance(source, Image.Image):
        image = source
    elif isinstance(source, np.ndarray):
        image = Image.fromarray(source)
    else:
        try:
            with _open_binary(source) as file:
                data = file.read()
        except FileNotFoundError:
            raise
        except Exception as error:  # network, permissions, S3 credentials: say which source failed
            raise OSError(f"could not read {source}: {error}") from error
        if not data:
            raise ValueError(f"{source} is empty: expected an image file (PNG, JPEG, ...)")
        try:
            image = Image.open(io.BytesIO(data))
            image.load()
        except (UnidentifiedImageError, OSError) as error:
            raise ValueError(f"{source} is not a readable image ({error}); expected PNG, JPEG, TIFF, ...") from error
    if grayscale:
        image = to_grayscale(image)
    return image


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


def compute_sha256(filename: str | Path) -> str:
    digest = hashlib.sha256()
    with open(filename, "rb") as file:
        for chunk in iter(lambda: file.read(DOWNLOAD_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download_url(url: str, filename: str | Path, sha256: str | None = None, timeout: float = DOWNLOAD_TIMEOUT_S) -> Path:
    """Download `url` to `filename` with a progress bar, check its sha256, and only then rename it into place.

    The bytes go to a temporary file beside the target, so an interrupted, truncated or corrupt
    download never leaves a file under the final name. Raises DownloadError saying what went wrong.
    """
    filename = Path(filename)
    with atomic_path(filename) as temp_name:
        with open(temp_name, "wb") as out:
            _stream(url, out, timeout, description=filename.name)
        if sha256 is not None:
            actual = compute_sha256(temp_name)
            if actual != sha256:
                raise DownloadError(
                    f"{url} does not match its checksum (expected sha256 {sha256}, got {actual}); "
                    "the file may be corrupt or changed upstream"
                )
    return filename


def _stream(url: str, out: IO[bytes], timeout: float, description: str) -> None:
    """Copy the body of `url` into `out`, checking it arrived whole."""
    try:
        response = urllib.request.urlopen(url, timeout=timeout)  # noqa: S310 (http/https/file by design)
    except urllib.error.HTTPError as error:  # before URLError, which it subclasses
        raise DownloadError(f"could not download {url} (HTTP {error.code} {error.reason})") from error
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        reason = getattr(error, "reason", error)
        raise DownloadError(f"could not download {url} ({reason})") from error
    with response:
        expected = response.headers.get("Content-Length")
        total = int(expected) if expected is not None else None
        received = 0
        with tqdm(total=total, unit="B", unit_scale=True, desc=description, disable=None) as progress:
            try:
                for chunk in iter(lambda: response.read(DOWNLOAD_CHUNK_BYTES), b""):
                    out.write(chunk)
                    received += len(chunk)
                    progress.update(len(chunk))
            except (OSError, urllib.error.URLError, http.client.HTTPException) as error:
                raise DownloadError(f"download of {url} broke off after {received} bytes ({error})") from error
    if total is not None and received != total:
        raise DownloadError(f"download of {url} was truncated: {received} of {total} bytes")
