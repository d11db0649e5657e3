"""CTCLitModel: trains a model that outputs one score vector per image position with CTC loss.

The model maps (B, 1, H, W) images to (B, C, S) logits (C = the 83 tokens, S positions along the
line). CTC sums over every alignment of the label's characters to the S positions, with `<B>`
(index 0) as the blank; `<S>`, `<E>` and `<P>` are not in the image and are stripped from the
targets. Validation and test decode greedily (best token per position, repeats merged, blanks
dropped) and report both CERs (image_to_text.py).
"""
from __future__ import annotations

import argparse
from typing import Any

import torch
from torch import nn

from text_recognizer.lit_models.image_to_text import ImageToTextLitModel
from text_recognizer.lit_models.util import ctc_greedy_decode, ctc_targets
from text_recognizer.metadata.shared import BLANK_TOKEN, END_TOKEN, PADDING_TOKEN, SPECIAL_TOKENS, START_TOKEN


class CTCLitModel(ImageToTextLitModel):
    """ImageToTextLitModel with CTC loss and greedy CTC decoding."""

    def __init__(self, model: nn.Module, args: argparse.Namespace | dict | None = None) -> None:
        super().__init__(model, args, needed_tokens=SPECIAL_TOKENS, needed_by="CTC")
        index = self.vocabulary.index  # every special token is there: checked above
        self.blank_index, self.start_index = index[BLANK_TOKEN], index[START_TOKEN]
        self.end_index, self.padding_index = index[END_TOKEN], index[PADDING_TOKEN]
        # zero_infinity: a line whose alignment is impossible contributes 0 instead of inf (as in the reference);
        # lines longer than the output sequence are caught in _shared_step with a clear error instead.
        self.loss_fn = nn.CTCLoss(blank=self.blank_index, zero_infinity=True)

    def ctc_loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """CTC loss of (B, C, S) logits against (B, L) labels (<S> chars <E> <P>...)."""
        log_probs = torch.log_softmax(logits.float(), dim=1).permute(2, 0, 1)  # (S, B, C), as CTCLoss wants
        length, batch = log_probs.shape[:2]
        targets, target_lengths = ctc_targets(y, [self.start_index], [self.end_index, self.padding_index])
        longest = int(target_lengths.max()) if batch else 0
        if longest > length:
            raise ValueError(
                f"a label has {longest} characters but the model outputs only {length} positions: "
                "use a smaller --window_stride (or a wider image) so that every character can be aligned"
            )
        input_lengths = torch.full((batch,), length, dtype=torch.long, device=logits.device)
        return self.loss_fn(log_probs, targets, input_lengths, target_lengths)

    def greedy_decode(self, logits: torch.Tensor, max_length: int) -> torch.Tensor:
        """(B, C, S) logits -> (B, max_length) tokens: repeats merged, blanks dropped, padded with <P>."""
        return ctc_greedy_decode(logits, self.blank_index, max_length, self.padding_index)

    def _shared_step(self, stage: str, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        logits = self(x)  # (B, C, S)
        loss = self.ctc_loss(logits, y)
        self.log(f"{stage}_loss", loss, prog_bar=stage != "test", sync_dist=stage != "train")
        if stage != "train":
            self.log_cer(stage, self.greedy_decode(logits, max_length=y.shape[1]), y)
        return loss
