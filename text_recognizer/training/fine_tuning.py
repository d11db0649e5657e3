"""--load_checkpoint: start a run from the weights of a model.pt (model_file.py) or a run's .ckpt.

Fine-tuning the shipped model on your own handwriting is
    --load_checkpoint=text_recognizer/artifacts/paragraph_text_recognizer/model.pt
with that model's --model_class and model flags (its args, printed when they differ). Only weights
are taken: the optimizer, the lr schedule and the epoch count start afresh (--resume_from_checkpoint
continues a run instead). A model.pt holds the network's weights only, so what the LightningModule adds
(the auxiliary CTC head of --ctc_weight) starts from scratch; a .ckpt restores it too.
"""
from __future__ import annotations

import argparse
import dataclasses
from typing import Any

import torch
from torch import nn

from text_recognizer.model_file import (
    CTC_HEAD_PREFIX,
    LIGHTNING_MODEL_PREFIX,
    as_model_file,
    first_mismatch,
    upgrade_lightning_state_dict,
)
from text_recognizer.stems.paragraph_core import TARGET_LINE_PITCH
from text_recognizer.training.trainer_flags import TrainerFlagError

MAX_FLAGS_SHOWN = 6


def model_flag_names(model: nn.Module) -> set[str]:
    """The flags that shape `model`: --model_class and the fields of its config (models/config.py)."""
    config = getattr(model, "config", None)
    return {"model_class", *(field.name for field in dataclasses.fields(config))} if config is not None else {"model_class"}


def _differing_flags(file_args: dict[str, Any], args: argparse.Namespace, names: set[str]) -> str:
    """'--tf_dim=256 (this run: 128), ...' for the file's model settings (`names`) that this run sets otherwise.
    Only model flags: the data folder, the lr or the log folder of a fine-tuning run differ from the file's
    by design, and listed first (alphabetically) they pushed the flag that mattered out of the message."""
    ours = vars(args)
    differ = [f"--{key}={value} (this run: {ours[key]})" for key, value in sorted(file_args.items())
              if key in names and key in ours and ours[key] != value and not isinstance(value, (list, dict))]
    return ", ".join(differ[:MAX_FLAGS_SHOWN]) + (", ..." if len(differ) > MAX_FLAGS_SHOWN else "")


def load_initial_weights(lit_model: nn.Module, path: str, args: argparse.Namespace) -> None:
    """Copy the weights in `path` into `lit_model` (a BaseLitModel holding `.model`), or raise
    TrainerFlagError naming the first tensor that does not fit and the flags that differ from the file's."""
    content = torch.load(path, map_location="cpu", weights_only=True)  # check_checkpoint_file read it already
    if "format" in content:  # model.pt (of any format): the network alone
        settings = as_model_file(content, path)
        target: nn.Module = lit_model.model  # type: ignore[assignment]
        state_dict = {k: t.float() if t.is_floating_point() else t for k, t in settings["state_dict"].items()}
        file_args = dict(settings["model_config"] or {})
    else:  # a run's .ckpt: the whole LightningModule
        target, state_dict = lit_model, upgrade_lightning_state_dict(dict(content["state_dict"]))
        settings = dict(content.get("hyper_parameters") or {})
        file_args = dict(settings.get("args") or {})
    file_mapping = list((settings.get("data_config") or {}).get("mapping") or [])
    our_mapping = list(getattr(lit_model.model, "data_config", {}).get("mapping") or [])
    where = f"--load_checkpoint: {path}"
    if file_mapping and our_mapping and file_mapping != our_mapping:
        raise TrainerFlagError(
            f"{where} writes a vocabulary of {len(file_mapping)} tokens, but --data_class={args.data_class} has "
            f"{len(our_mapping)} (or another order): its tokens would mean other characters. Use data with the "
            "model's vocabulary (HandwritingFolder: --stem=paragraph for the paragraph models, --stem=line for line models)"
        )
    # A model reads handwriting at the pitch it was trained at; other sizes read far worse.
    file_pitch = (settings.get("data_config") or {}).get("line_pitch", TARGET_LINE_PITCH)
    our_pitch = getattr(lit_model.model, "data_config", {}).get("line_pitch", TARGET_LINE_PITCH)
    if float(file_pitch) != float(our_pitch):
        raise TrainerFlagError(
            f"{where} was trained on handwriting at a line pitch of {float(file_pitch):g} px, but this run rescales "
            f"it to {float(our_pitch):g}: add --line_pitch={float(file_pitch):g}"
        )
    # The line CTC head is a training aid of --ctc_weight: a run with one starts it fresh where the file has
    # none, and a run without one leaves the file's aside.
    ours = target.state_dict()
    head = (LIGHTNING_MODEL_PREFIX if target is lit_model else "") + CTC_HEAD_PREFIX
    state_dict = {name: tensor for name, tensor in state_dict.items() if not name.startswith(head) or name in ours}
    state_dict.update({name: tensor for name, tensor in ours.items() if name.startswith(head) and name not in state_dict})
    mismatch = first_mismatch(ours, state_dict)
    if mismatch is not None:
        differ = _differing_flags(file_args, args, model_flag_names(lit_model.model))  # type: ignore[arg-type]
        raise TrainerFlagError(
            f"the weights in {path} do not fit --model_class={args.model_class} with these flags (first mismatched "
            f"tensor: {mismatch}); use the model flags of the run that wrote it (its config.json"
            + (f"; it was written with {differ}" if differ else "") + ")"
        )
    target.load_state_dict(state_dict)

