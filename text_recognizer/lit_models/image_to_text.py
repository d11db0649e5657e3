"""ImageToTextLitModel: what the sequence Lightning modules share, so that each keeps only its loss and decoding.

It owns the vocabulary (token indices, checked once), the two character error rates per stage and
their logging: `*_cer` is the reference's (mean per-sample ratio: the one in checkpoint names and
published figures), `*_cer_standard` the field's (total edits / total reference characters); see
metrics.py. The best `val_cer` checkpoint is kept.
"""
from __future__ import annotations

import argparse
from collections.abc import Sequence

import torch
from torch import nn

from text_recognizer.lit_models.base import BaseLitModel
from text_recognizer.lit_models.metrics import CharacterErrorRate, ReferenceCER
from text_recognizer.vocabulary import Vocabulary


class ImageToTextLitModel(BaseLitModel):
    """BaseLitModel for models that read an image into a token sequence; subclasses write `_shared_step`."""

    checkpoint_metrics = ("val_loss", "val_cer")
    checkpoint_monitor = "val_cer"
    classifies = False

    def __init__(
        self,
        model: nn.Module,
        args: argparse.Namespace | dict | None = None,
        needed_tokens: Sequence[str] = (),
        needed_by: str = "",
    ) -> None:
        super().__init__(model, args)
        self.vocabulary = Vocabulary(self.mapping, needed_tokens, needed_by)
        markers = self.vocabulary.markers  # <S>, <E>, <P> are not text: no CER counts them
        self.val_cer, self.test_cer = ReferenceCER(markers), ReferenceCER(markers)
        self.val_cer_standard, self.test_cer_standard = CharacterErrorRate(markers), CharacterErrorRate(markers)

    def log_cer(self, stage: str, decoded: torch.Tensor, y: torch.Tensor) -> None:
        """Update and log both CERs of `stage` ("val" or "test") for a batch of decoded tokens against labels."""
        for name in (f"{stage}_cer", f"{stage}_cer_standard"):
            metric = getattr(self, name)
            metric(decoded, y)
            self.log(name, metric, on_step=False, on_epoch=True, prog_bar=name == f"{stage}_cer")
