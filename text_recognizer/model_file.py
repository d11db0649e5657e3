"""model.pt: what inference needs and nothing else, loadable without Lightning.

A model file is a plain dict saved with torch.save and read back with `weights_only=True`:
    {"format": 2, "model_class": "ResnetTransformer", "data_config": {...},
     "model_config": {...},          the model's own settings: the fields of its Config dataclass
     "state_dict": {name: tensor}}   (floating-point weights in half precision by default)
Format 1 files held every flag of the run under "args" instead of "model_config"; they still load.
`load_model` also accepts a Lightning checkpoint (.ckpt) written by run_experiment, whose
hyper-parameters hold the model_class, the data_config and the run's flags ("args").
`read_checkpoint` gives every kind in the current shape, the model's settings under "model_config".
"""
from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from text_recognizer.bounds import check_data_config
from text_recognizer.util import atomic_path

FORMAT_VERSION = 2
READABLE_FORMATS = (1, 2)
LIGHTNING_MODEL_PREFIX = "model."  # BaseLitModel keeps the nn.Module as `self.model`


def _plain_state_dict(state_dict: dict[str, torch.Tensor], half: bool) -> dict[str, torch.Tensor]:
    def convert(tensor: torch.Tensor) -> torch.Tensor:
        tensor = tensor.detach().cpu()
        return tensor.half() if half and tensor.is_floating_point() else tensor.clone()

    return {name: convert(tensor) for name, tensor in state_dict.items()}


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """model_class, data_config, model_config and the model's state_dict from a model.pt or a Lightning .ckpt."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {path}")
    if _is_safetensors(path):  # torch.load's own answer was "install safetensors", which would not help
        raise ValueError(f"{path} is a safetensors file: this project's model files are model.pt (written by "
                         "training/save_best_model.py) or a run's .ckpt, which hold the model's class and settings too")
    try:
        # weights_only: tensors and plain containers only. A pickle that would run code (or load any
        # other class) is refused, never executed; this project's model.pt and .ckpt files need nothing more.
        content = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise ValueError(
            f"{path} cannot be read as a model file: it is corrupt, not a torch file, or holds objects other "
            f"than tensors and plain containers, which are never loaded (they could run code): {str(error)[:200]}"
        ) from None
    return as_model_file(content, path)


def _is_safetensors(path: Path) -> bool:
    """A safetensors file: an 8-byte little-endian header length, then the JSON header."""
    with open(path, "rb") as file:
        start = file.read(9)
    return path.suffix == ".safetensors" or (len(start) == 9 and start[8:9] == b"{"
                                             and 2 <= int.from_bytes(start[:8], "little") <= path.stat().st_size)


def as_model_file(content: Any, path: str | Path) -> dict[str, Any]:
    """What torch.load gave for `path` (a model.pt of any readable format, or a .ckpt) in the current
    model-file shape; ValueError naming `path` when it is neither."""
    if not isinstance(content, dict):
        raise ValueError(f"{path} is neither a model.pt nor a Lightning checkpoint")
    if "format" in content and "state_dict" in content:
        if content["format"] not in READABLE_FORMATS:
            raise ValueError(f"{path} is a model file of format {content['format']!r}; this version reads "
                             f"{READABLE_FORMATS}: it was written by a newer text_recognizer")
        if content["format"] == 1:  # every flag of the run under "args"; the model's own are among them
            content = {**{k: v for k, v in content.items() if k != "args"}, "model_config": content.get("args")}
        return {**content, "format": FORMAT_VERSION}
    if "hyper_parameters" in content and "state_dict" in content:
        hparams = dict(content["hyper_parameters"])
        missing = {"model_class", "data_config", "args"} - hparams.keys()
        if missing:
            raise ValueError(f"{path} was not written by run_experiment (hyper-parameters lack {sorted(missing)})")
        state_dict = {
            name[len(LIGHTNING_MODEL_PREFIX) :]: tensor
            for name, tensor in upgrade_lightning_state_dict(dict(content["state_dict"])).items()
            if name.startswith(LIGHTNING_MODEL_PREFIX)
        }
        data_config = dict(hparams["data_config"])
        if "read_by" not in data_config and "curriculum" in hparams["args"]:  # written before the key existed
            from text_recognizer.data.batching import Curriculum  # training's flags: parsed as training did

            data_config["read_by"] = Curriculum.parse(hparams["args"]["curriculum"]).read_by
        return {
            "format": FORMAT_VERSION,
            "model_class": hparams["model_class"],
            "data_config": data_config,
            "model_config": dict(hparams["args"]),  # the run's flags: the model picks its own
            "state_dict": state_dict,
        }
    raise ValueError(f"{path} is neither a model.pt nor a Lightning checkpoint (keys: {sorted(content)[:8]})")


CTC_HEAD_PREFIX = "ctc_head."  # the line CTC head's weights in a model's state_dict


def upgrade_lightning_state_dict(state_dict: dict[str, Any]) -> dict[str, Any]:
    """A LightningModule's state_dict in today's layout, in place: the line CTC head of runs written before
    it moved into the model (ctc_head.*, beside the model) goes into it (model.ctc_head.*)."""
    for name in [name for name in state_dict if name.startswith(CTC_HEAD_PREFIX)]:
        state_dict[LIGHTNING_MODEL_PREFIX + name] = state_dict.pop(name)
    return state_dict


def first_mismatch(expected: Mapping[str, torch.Tensor], given: Mapping[str, torch.Tensor]) -> str | None:
    """The first tensor (in the model's order) whose name or shape differs between a model's state_dict
    (`expected`) and a file's (`given`), said in words; None when they fit.

    >>> first_mismatch({"a": torch.zeros(2), "b": torch.zeros(3)}, {"a": torch.zeros(2), "b": torch.zeros(4)})
    'b: the file has shape (4,), the model (3,)'
    >>> first_mismatch({"a": torch.zeros(2)}, {"a": torch.zeros(2), "c": torch.zeros(1)})
    'c: in the file, not in the model'
    """
    for name, tensor in expected.items():
        if name not in given:
            return f"{name}: in the model, not in the file"
        if tuple(given[name].shape) != tuple(tensor.shape):
            return f"{name}: the file has shape {tuple(given[name].shape)}, the model {tuple(tensor.shape)}"
    extra = next((name for name in given if name not in expected), None)
    return None if extra is None else f"{extra}: in the file, not in the model"


def build_model(content: dict[str, Any], source: str | Path = "the model file") -> nn.Module:
    """Instantiate the model class named in a model file and load its weights (as float32), in eval mode.

    Raises ValueError naming `source` when the class is unknown, cannot be built from the file's
    settings, or the weights do not fit it.
    """
    import text_recognizer.models as models

    name = content.get("model_class")
    if not isinstance(name, str) or name not in models.__all__:
        raise ValueError(f"{source} names model class {name!r}, which text_recognizer.models does not have "
                         f"(known: {', '.join(models.__all__)}); it was written by another version or is damaged")
    for key in ("data_config", "model_config", "state_dict"):
        if not isinstance(content.get(key), dict):
            raise ValueError(f"{source} has no {key} dict: it is not a complete model file")
    model_class = getattr(models, name)
    # Every size the file states is bounded before anything is built (bounds.py; each setting's own bounds
    # in its Config): a file saying tf_layers=10**9 once grew memory without end.
    check_data_config(content["data_config"], source)
    if not all(isinstance(tensor, torch.Tensor) for tensor in content["state_dict"].values()):
        raise ValueError(f"{source}: its state_dict holds values other than tensors: it is not a model file")
    state_dict = content["state_dict"]
    data_config = dict(content["data_config"])
    data_config["input_dims"] = tuple(data_config["input_dims"])
    data_config["output_dims"] = tuple(data_config["output_dims"])

    def build() -> nn.Module:
        try:
            model = model_class(data_config=data_config, args=argparse.Namespace(**content["model_config"]))
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise ValueError(f"{source}: a {name} cannot be built from its settings ({type(error).__name__}: {error})") from None
        head = state_dict.get(CTC_HEAD_PREFIX + "weight")
        if head is not None and hasattr(model, "add_ctc_head"):  # the line CTC head, its shape in its weights
            model.add_ctc_head(max(1, head.shape[0] // len(data_config["mapping"])))
        return model

    # First built on the meta device, which allocates nothing: settings within their bounds may still
    # combine into a model far larger than the weights the file holds (and has already been read into
    # memory); only a model whose every tensor fits the file's is then built for real.
    with torch.device("meta"):
        skeleton = build()
    mismatch = first_mismatch(skeleton.state_dict(), state_dict)
    if mismatch is not None:  # missing, unexpected or misshapen weights: name the first
        raise ValueError(f"{source}: its weights do not fit a {name} built from its settings (first mismatched tensor: "
                         f"{mismatch})")
    model = build()
    model.load_state_dict({key: t.float() if t.is_floating_point() else t for key, t in state_dict.items()})
    return model.eval()


def load_model(path: str | Path) -> nn.Module:
    """A ready-to-use model (eval mode, float32) from a model.pt or a Lightning checkpoint."""
    return build_model(read_checkpoint(path), source=path)


def model_config(model_class: str, settings: Mapping[str, Any]) -> dict[str, Any]:
    """The settings of a `model_class` among `settings` (a run's flags, say), defaults for the rest.

    >>> model_config("MLP", {"fc1": 32, "lr": 0.1})
    {'fc1': 32, 'fc2': 128, 'fc_dropout': 0.5}
    """
    import text_recognizer.models as models

    if model_class not in models.__all__:
        raise ValueError(f"unknown model class {model_class!r} (known: {', '.join(models.__all__)})")
    return dataclasses.asdict(getattr(models, model_class).Config.from_dict(settings))


def save_model_file(content: dict[str, Any], path: str | Path, half: bool = True) -> Path:
    """Write a model file atomically (temporary name, then rename). `content` is read_checkpoint's
    shape; of its "model_config" only the model class's own settings are kept."""
    path = Path(path)
    payload = {
        "format": FORMAT_VERSION,
        "model_class": content["model_class"],
        "data_config": content["data_config"],
        "model_config": model_config(content["model_class"], content["model_config"]),
        "state_dict": _plain_state_dict(content["state_dict"], half=half),
    }
    with atomic_path(path) as temp:
        torch.save(payload, temp)
    return path
