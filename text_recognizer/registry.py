"""Lazy name -> class lookup for the packages that run_experiment resolves classes from.

Importing a class's module on first access keeps light modules light (inference does not load
Lightning by importing `text_recognizer.data.util`) and lets an unknown name list the valid ones.
"""
import importlib
from collections.abc import Callable


def lazy_getattr(package: str, modules: dict[str, str]) -> Callable[[str], object]:
    """A module-level __getattr__ for `package`, whose classes live in the given submodules."""

    def __getattr__(name: str) -> object:
        if name not in modules:
            raise AttributeError(f"module {package!r} has no attribute {name!r}; it provides {sorted(modules)}")
        return getattr(importlib.import_module(f"{package}.{modules[name]}"), name)

    return __getattr__
