"""Sane bounds on the sizes a model description states, checked before anything is built from them.

A model.pt's data_config and an onnx_model.json come from files anyone may have written: an
`output_dims` of 10**9 would be a positional encoding of 10**9 rows, a mapping of 10**8 entries an
embedding as large. Every size is checked here first, and the error names the field. The bounds are
far above anything this project trains (576x640 pages, 682 tokens, 84 characters) and far below what
would exhaust a machine. Torch-free: the ONNX backend checks its description with it too.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

MAX_IMAGE_SIDE = 16384  # pixels of a model's input side (the paragraphs' is 640)
MAX_OUTPUT_LENGTH = 10_000  # tokens of a decode (the paragraphs' is 682)
MAX_MAPPING_SIZE = 10_000  # tokens of a vocabulary (84 here)
MAX_LINE_PITCH = 1000.0  # pixels between baselines (48 here)


def check_int(value: Any, name: str, low: int, high: int, source: object) -> int:
    """`value` as an int within low..high, or ValueError naming `source` and the field.

    >>> check_int(10**9, "tf_layers", 1, 64, "model.pt")
    Traceback (most recent call last):
    ...
    ValueError: model.pt: tf_layers=1000000000 is outside 1..64: the file is damaged or not a model of this project
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{source}: {name} must be an integer, got {_short(value)}: the file is damaged or not a model "
                         "of this project")
    if not low <= value <= high:
        raise ValueError(f"{source}: {name}={value} is outside {low}..{high}: the file is damaged or not a model of this project")
    return value


def check_data_config(data_config: Any, source: object) -> None:
    """The sizes of a data config (mapping, input_dims, output_dims, line_pitch) are of the right types and
    within bounds; ValueError naming `source` and the first field that is not."""
    if not isinstance(data_config, Mapping):
        raise ValueError(f"{source}: data_config must be a dict, got {type(data_config).__name__}")
    mapping = data_config.get("mapping")
    # strings for text; a classifier's classes may be integers (MNIST's digits)
    if not isinstance(mapping, (list, tuple)) or not all(isinstance(token, (str, int)) and not isinstance(token, bool)
                                                         for token in mapping):
        raise ValueError(f"{source}: data_config.mapping must be a list of strings (or class numbers), got {_short(mapping)}")
    check_int(len(mapping), "the size of data_config.mapping", 1, MAX_MAPPING_SIZE, source)
    for key, high in (("input_dims", MAX_IMAGE_SIDE), ("output_dims", MAX_OUTPUT_LENGTH)):
        dims = data_config.get(key)
        if not isinstance(dims, (list, tuple)) or not 1 <= len(dims) <= 3:
            raise ValueError(f"{source}: data_config.{key} must be a list of 1 to 3 sizes, got {_short(dims)}")
        for i, size in enumerate(dims):
            check_int(size, f"data_config.{key}[{i}]", 1, high, source)
    pitch = data_config.get("line_pitch")
    if pitch is not None and (isinstance(pitch, bool) or not isinstance(pitch, (int, float))
                              or not math.isfinite(pitch) or not 0 < pitch <= MAX_LINE_PITCH):
        raise ValueError(f"{source}: data_config.line_pitch must be a number in (0, {MAX_LINE_PITCH:g}], got {_short(pitch)}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
