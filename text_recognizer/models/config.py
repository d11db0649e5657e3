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
import typing
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, TypeVar

from text_recognizer.util import str2bool

C = TypeVar("C", bound="ModelConfig")


def setting(default: Any, help: str, choices: tuple | None = None) -> Any:
    """A config field with its flag's help text (and allowed values)."""
    return field(default=default, metadata={"help": help, "choices": choices})


@dataclass(frozen=True)
class ModelConfig:
    """Base of the models' settings dataclasses; a model that combines parts inherits their configs."""

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
