"""Read and write MATLAB 5 .mat files (the format of NIST's EMNIST archive) with numpy alone.

scipy.io.loadmat reads this format, but scipy is not a dependency of the project and h5py reads
only the HDF5-based v7.3 format. EMNIST's files are v5: a 128-byte header, then one data element
per variable, usually zlib-compressed (`miCOMPRESSED`). Each element is an 8-byte tag (type,
byte count) and its payload padded to 8 bytes; elements of at most 4 bytes may be packed into the
tag itself ("small data element"). A variable is an `miMATRIX`: array flags (class), dimensions,
name, then the data -- for numbers, the values in column-major order, possibly stored in a smaller
type than their class (a double matrix of small integers is stored as uint8); for structs, the field
names followed by one `miMATRIX` per field and element.

Supported classes: numeric and logical arrays, char arrays, structs and cells (enough for EMNIST
and for writing small files in its format). Sparse matrices and objects raise MatFileError.

>>> import io
>>> buffer = io.BytesIO()
>>> write_mat(buffer, {"dataset": {"labels": np.array([[3], [1]], dtype=np.uint8), "name": "ab"}})
>>> loaded = read_mat(buffer.getvalue())["dataset"]
>>> loaded["labels"].tolist(), loaded["name"]
([[3], [1]], 'ab')
"""
from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import IO, Any

import numpy as np

HEADER_BYTES = 128
MI_INT8, MI_UINT8, MI_INT16, MI_UINT16, MI_INT32, MI_UINT32 = 1, 2, 3, 4, 5, 6
MI_SINGLE, MI_DOUBLE, MI_INT64, MI_UINT64 = 7, 9, 12, 13
MI_MATRIX, MI_COMPRESSED, MI_UTF8, MI_UTF16, MI_UTF32 = 14, 15, 16, 17, 18
MI_DTYPES = {
    MI_INT8: "i1", MI_UINT8: "u1", MI_INT16: "i2", MI_UINT16: "u2", MI_INT32: "i4", MI_UINT32: "u4",
    MI_SINGLE: "f4", MI_DOUBLE: "f8", MI_INT64: "i8", MI_UINT64: "u8", MI_UTF16: "u2", MI_UTF32: "u4",
}
MX_CELL, MX_STRUCT, MX_OBJECT, MX_CHAR, MX_SPARSE = 1, 2, 3, 4, 5
MX_DTYPES = {6: "f8", 7: "f4", 8: "i1", 9: "u1", 10: "i2", 11: "u2", 12: "i4", 13: "u4", 14: "i8", 15: "u8"}
FLAG_COMPLEX, FLAG_LOGICAL = 0x0800, 0x0200  # bits of the first array-flags word


class MatFileError(ValueError):
    """The bytes are not a MATLAB 5 file this reader understands."""


def read_mat(source: bytes | str | Path) -> dict[str, Any]:
    """Variables of a .mat file: numeric arrays as numpy (in MATLAB's shape), char arrays as str,
    1x1 structs as dicts (larger struct arrays as lists of dicts), cells as lists."""
    data = source if isinstance(source, (bytes, bytearray)) else Path(source).read_bytes()
    if len(data) < HEADER_BYTES:
        raise MatFileError(f"too short for a .mat file ({len(data)} bytes)")
    if data[:19] == b"MATLAB 7.3 MAT-file" or data[:8] == b"\x89HDF\r\n\x1a\n":
        raise MatFileError("this is a MATLAB 7.3 (HDF5) file: read it with h5py")
    endian = {b"IM": "<", b"MI": ">"}.get(bytes(data[126:128]))
    if endian is None or not data.startswith(b"MATLAB"):
        raise MatFileError("not a MATLAB 5 .mat file (no 'MATLAB' header / endian indicator)")
    view = memoryview(data)
    variables: dict[str, Any] = {}
    position = HEADER_BYTES
    while position + 8 <= len(view):
        element_type, payload, position = _read_element(view, position, endian, padded=False)
        if element_type == MI_COMPRESSED:
            try:
                inflated = memoryview(zlib.decompress(payload))
            except zlib.error as error:
                raise MatFileError(f"corrupt compressed variable ({error})") from error
            element_type, payload, _ = _read_element(inflated, 0, endian, padded=False)
        if element_type == MI_MATRIX and len(payload):
            name, value = _read_matrix(payload, endian)
            variables[name] = value
    return variables


def _read_element(view: memoryview, position: int, endian: str, padded: bool = True) -> tuple[int, memoryview, int]:
    """(type, payload, position after the element) of the data element starting at `position`."""
    first, second = struct.unpack_from(endian + "II", view, position)
    if first >> 16:  # small data element: 2-byte count and 2-byte type, the payload in the tag's second word
        count, element_type = first >> 16, first & 0xFFFF
        return element_type, view[position + 4 : position + 4 + count], position + 8
    start, end = position + 8, position + 8 + second
    if end > len(view):
        raise MatFileError(f"truncated file: an element of {second} bytes runs past the end")
    # Top-level elements follow each other directly; sub-elements of a matrix are 8-byte aligned.
    return first, view[start:end], (start + -(-second // 8) * 8) if padded else end


def _read_numbers(view: memoryview, position: int, endian: str) -> tuple[np.ndarray, int]:
    element_type, payload, position = _read_element(view, position, endian)
    if element_type not in MI_DTYPES and element_type != MI_UTF8:
        raise MatFileError(f"unexpected data type {element_type} where numbers were expected")
    dtype = np.dtype(endian + MI_DTYPES.get(element_type, "u1"))
    return np.frombuffer(payload, dtype=dtype), position


def _read_matrix(view: memoryview, endian: str) -> tuple[str, Any]:
    """(name, value) of the miMATRIX whose payload is `view`."""
    flags, position = _read_numbers(view, 0, endian)
    mx_class, flag_bits = int(flags[0]) & 0xFF, int(flags[0]) & 0xFF00
    dims, position = _read_numbers(view, position, endian)
    shape = tuple(int(d) for d in dims)
    name_bytes, position = _read_numbers(view, position, endian)
    name = bytes(name_bytes).decode("ascii")
    if mx_class in MX_DTYPES:
        real, position = _read_numbers(view, position, endian)
        array = real.astype(MX_DTYPES[mx_class], copy=False)
        if flag_bits & FLAG_COMPLEX:
            imaginary, position = _read_numbers(view, position, endian)
            array = array + 1j * imaginary
        array = array.reshape(shape, order="F")
        return name, array.astype(bool) if flag_bits & FLAG_LOGICAL else array
    if mx_class == MX_CHAR:
        codes, position = _read_numbers(view, position, endian)
        if codes.dtype.itemsize == 1:  # UTF-8 bytes
            return name, bytes(codes).decode("utf-8")
        rows = codes.reshape(shape, order="F")
        strings = ["".join(chr(int(c)) for c in row) for row in rows]
        return name, strings[0] if len(strings) == 1 else strings
    count = int(np.prod(shape))
    if mx_class == MX_STRUCT:
        field_length, position = _read_numbers(view, position, endian)
        names_raw, position = _read_numbers(view, position, endian)
        width = int(field_length[0])
        raw = bytes(names_raw)
        fields = [raw[i : i + width].split(b"\0")[0].decode("ascii") for i in range(0, len(raw), width)]
        elements = []
        for _ in range(count):
            element = {}
            for field in fields:
                element[field], position = _read_child(view, position, endian)
            elements.append(element)
        return name, elements[0] if count == 1 else elements
    if mx_class == MX_CELL:
        cells = []
        for _ in range(count):
            value, position = _read_child(view, position, endian)
            cells.append(value)
        return name, cells
    raise MatFileError(f"variable {name!r} has MATLAB class {mx_class} (sparse/object), which is not supported")


def _read_child(view: memoryview, position: int, endian: str) -> tuple[Any, int]:
    element_type, payload, position = _read_element(view, position, endian)
    if element_type != MI_MATRIX:
        raise MatFileError(f"expected a struct field or cell (miMATRIX), found data type {element_type}")
    return (_read_matrix(payload, endian)[1] if len(payload) else np.zeros((0, 0))), position


# ---- writing (little-endian), used to make small EMNIST-format files for tests and demos ----

_NUMPY_TO_MI = {np.dtype(code): mi for mi, code in MI_DTYPES.items() if mi not in (MI_UTF16, MI_UTF32)}
_NUMPY_TO_MX = {np.dtype(code): mx for mx, code in MX_DTYPES.items()}


def write_mat(target: str | Path | IO[bytes], variables: dict[str, Any], compress: bool = True) -> None:
    """Write numpy arrays (numeric or bool), str and dicts (1x1 structs) as a MATLAB 5 .mat file."""
    text = b"MATLAB 5.0 MAT-file, written by text_recognizer.data.matlab_v5"
    header = text.ljust(116, b" ") + b"\0" * 8 + struct.pack("<H", 0x0100) + b"IM"
    chunks = [header]
    for name, value in variables.items():
        matrix = _element(MI_MATRIX, _matrix_payload(name, value))
        chunks.append(_element(MI_COMPRESSED, zlib.compress(matrix), pad=False) if compress else matrix)
    if isinstance(target, (str, Path)):
        Path(target).write_bytes(b"".join(chunks))
    else:
        target.write(b"".join(chunks))


def _element(element_type: int, payload: bytes, pad: bool = True) -> bytes:
    if 0 < len(payload) <= 4 and element_type not in (MI_MATRIX, MI_COMPRESSED):
        return struct.pack("<HH", element_type, len(payload)) + payload.ljust(4, b"\0")
    padding = (-len(payload) % 8) if pad else 0
    return struct.pack("<II", element_type, len(payload)) + payload + b"\0" * padding


def _matrix_payload(name: str, value: Any) -> bytes:
    def head(mx_class: int, shape: tuple[int, ...], flag_bits: int = 0) -> bytes:
        flags = _element(MI_UINT32, struct.pack("<II", mx_class | flag_bits, 0))
        dims = _element(MI_INT32, np.asarray(shape, dtype="<i4").tobytes())
        return flags + dims + _element(MI_INT8, name.encode("ascii"))

    if isinstance(value, dict):
        fields = list(value)
        width = max((len(f) for f in fields), default=0) + 1  # NUL-terminated, fixed width
        names = b"".join(f.encode("ascii").ljust(width, b"\0") for f in fields)
        children = b"".join(_element(MI_MATRIX, _matrix_payload("", value[f])) for f in fields)
        field_length = _element(MI_INT32, struct.pack("<i", width))
        return head(MX_STRUCT, (1, 1)) + field_length + _element(MI_INT8, names) + children
    if isinstance(value, str):
        codes = np.array([ord(c) for c in value], dtype="<u2")
        return head(MX_CHAR, (1, len(value))) + _element(MI_UINT16, codes.tobytes())
    array = np.asarray(value)
    array = array.reshape(1, -1) if array.ndim < 2 else array
    logical = array.dtype == np.bool_
    stored = array.astype(np.uint8) if logical else array
    if stored.dtype not in _NUMPY_TO_MX:
        raise MatFileError(f"cannot write {name!r} of dtype {array.dtype}")
    data = np.ascontiguousarray(stored.astype(stored.dtype.newbyteorder("<")).ravel(order="F")).tobytes()
    return head(_NUMPY_TO_MX[stored.dtype], array.shape, FLAG_LOGICAL if logical else 0) + _element(
        _NUMPY_TO_MI[stored.dtype], data
    )
