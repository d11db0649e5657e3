"""Typed model settings: each model's flags are the fields of one dataclass, their defaults written once.

A model reads its settings with `Config.from_args(args)` (unknown flags ignored, missing ones at their
defaults); `run_experiment.py --help` lists them through `Config.add_to_argparse`; model.pt stores
`asdict(model.config)`, the model's own settings and nothing of the run's other flags.

    >>> @dataclass(frozen=True)
    ... class Example(ModelConfig):
    ...     width: int = setting(8, "units per layer")
    ...     bias: bool = setting(True, "with biases")
    >>> Example.from_args(argparse.Namespace(width=4, lr=0.1))
    Example(width=4, bias=True)
"""
from __future__ import annotations

import argparse
import math
import typing
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, TypeVar

from text_recognizer.util import str2bool

C = TypeVar("C", bound="ModelConfig")


def setting(default: Any, help: str, choices: tuple | None = None, bounds: tuple[float, float] | None = None) -> Any:
    """A config field with its flag's help text (and allowed values, or the closed range `bounds` of a number).

    Every size has bounds: a model file's settings are read from a file that anyone may have written, and
    a model is built from them before its weights are compared (tf_layers=10**9 once grew memory without end).
    """
    return field(default=default, metadata={"help": help, "choices": choices, "bounds": bounds})


@dataclass(frozen=True)
class ModelConfig:
    """Base of the models' settings dataclasses; a model that combines parts inherits their configs."""

    def __post_init__(self) -> None:
        """Each setting of the type its field says, within its choices or bounds: ValueError naming the field."""
        types = typing.get_type_hints(type(self))
        for f in fields(self):
            value, kind = getattr(self, f.name), types[f.name]
            numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
            if kind is bool and not isinstance(value, bool) or kind is int and not (numeric and float(value).is_integer()) \
                    or kind is float and not (numeric and math.isfinite(value)):
                raise ValueError(f"{f.name} must be a finite {kind.__name__}, got {value!r}")
            if kind is int and not isinstance(value, int):  # 4.0 is 4
                object.__setattr__(self, f.name, int(value))
            choices, bounds = f.metadata.get("choices"), f.metadata.get("bounds")
            if choices is not None and value not in choices:
                raise ValueError(f"{f.name} must be one of {choices}, got {value!r}")
            if bounds is not None and not bounds[0] <= value <= bounds[1]:
                raise ValueError(f"{f.name}={value!r} is outside {bounds[0]:g}..{bounds[1]:g}")

    @classmethod
    def from_args(cls: type[C], args: argparse.Namespace | None = None) -> C:
        given = vars(args) if args is not None else {}
        return cls(**{f.name: given[f.name] for f in fields(cls) if given.get(f.name) is not None})

    @classmethod
    def from_dict(cls: type[C], values: Mapping[str, Any]) -> C:
        return cls.from_args(argparse.Namespace(**values))

    @classmethod
    def add_to_argparse(cls, parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        types = typing.get_type_hints(cls)
        for f in fields(cls):
            kind = types[f.name]
            default = f.default if f.default is not MISSING else None
            if kind is bool:  # `--flag` alone means true, as the reference's store_true flags; `--flag=0` false
                parser.add_argument(f"--{f.name}", type=str2bool, nargs="?", const=True, default=default,
                                    help=f.metadata.get("help", ""))
            else:
                parser.add_argument(f"--{f.name}", type=kind, default=default, choices=f.metadata.get("choices"),
                                    help=f.metadata.get("help", ""))
        return parser
