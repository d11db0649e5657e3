"""The MATLAB 5 reader/writer that replaces scipy.io.loadmat for EMNIST's .mat files."""
import doctest
import io
import struct
import zlib

import numpy as np
import pytest

from text_recognizer.data import matlab_v5
from text_recognizer.data.matlab_v5 import MatFileError, read_mat, write_mat


def test_doctests_pass():
    assert doctest.testmod(matlab_v5).failed == 0


@pytest.mark.parametrize("compress", [True, False])
def test_nested_structs_arrays_and_text_round_trip(compress):
    images = np.arange(3 * 784, dtype=np.uint8).reshape(3, 784)
    variables = {
        "dataset": {
            "train": {"images": images, "labels": np.array([[1.0], [2.0], [61.0]])},
            "mapping": np.array([[0, 48], [1, 49]], dtype=np.float64),
            "flags": np.array([[True, False]]),
        },
        "title": "EMNIST",
    }
    buffer = io.BytesIO()
    write_mat(buffer, variables, compress=compress)
    loaded = read_mat(buffer.getvalue())
    train = loaded["dataset"]["train"]
    assert train["images"].dtype == np.uint8 and np.array_equal(train["images"], images)
    assert train["labels"].shape == (3, 1) and train["labels"].ravel().tolist() == [1.0, 2.0, 61.0]
    assert loaded["dataset"]["mapping"].tolist() == [[0.0, 48.0], [1.0, 49.0]]
    assert loaded["dataset"]["flags"].dtype == bool
    assert loaded["title"] == "EMNIST"


def test_numbers_stored_in_a_smaller_type_come_back_in_their_class():
    """MATLAB stores a double matrix of small integers as uint8 data; the reader returns doubles."""

    def element(kind, payload):
        return struct.pack("<II", kind, len(payload)) + payload + b"\0" * (-len(payload) % 8)

    matrix = (
        element(matlab_v5.MI_UINT32, struct.pack("<II", 6, 0))  # class double
        + element(matlab_v5.MI_INT32, struct.pack("<ii", 2, 1))
        + struct.pack("<HH", matlab_v5.MI_INT8, 1) + b"x\0\0\0"  # small data element: the name "x"
        + element(matlab_v5.MI_UINT8, bytes([7, 9]))
    )
    header = b"MATLAB 5.0 MAT-file".ljust(116, b" ") + b"\0" * 8 + struct.pack("<H", 0x0100) + b"IM"
    data = header + element(matlab_v5.MI_COMPRESSED, zlib.compress(element(matlab_v5.MI_MATRIX, matrix)))
    x = read_mat(data)["x"]
    assert x.dtype == np.float64 and x.tolist() == [[7.0], [9.0]]


def test_other_files_are_refused_with_a_reason():
    with pytest.raises(MatFileError, match="h5py"):
        read_mat(b"MATLAB 7.3 MAT-file".ljust(200, b" "))
    with pytest.raises(MatFileError, match="not a MATLAB 5"):
        read_mat(b"PK\x03\x04" + b"\0" * 200)
    with pytest.raises(MatFileError, match="too short"):
        read_mat(b"MATLAB")
