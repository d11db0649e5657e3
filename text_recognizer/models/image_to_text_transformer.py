"""ImageToTextTransformer: the API of the encoder-decoder models (ResnetTransformer, LineCNNTransformer).

`encode` turns images into memory, `decode` scores teacher-forced tokens, `predict` decodes as
inference does; the Lightning module and the recognizer use nothing else.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from text_recognizer.line_guard import line_length_limits, min_char_width
from text_recognizer.models.transformer_decoder import TransformerTextDecoder
from text_recognizer.stems.paragraph_core import LINE_DECODING_ATTENTION, LINE_DECODING_CTC


def line_decoding(model: nn.Module) -> str:
    """How a model that reads by lines decodes them: its CTC head where it has one (paragraph_core)."""
    return LINE_DECODING_CTC if getattr(model, "ctc_head", None) is not None else LINE_DECODING_ATTENTION


class ImageToTextTransformer(nn.Module):
    """The API shared by the encoder-decoder models: subclasses define `encode` and set `self.decoder`."""

    decoder: TransformerTextDecoder
    data_config: dict[str, Any]  # set by subclasses: the data they were built for (line_pitch, mapping, ...)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, H, W) images -> (B, M, tf_dim) memory."""
        raise NotImplementedError

    def encode_each(
        self, x: torch.Tensor, sizes: Sequence[tuple[int, int]] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(B, 1, H, W) padded images -> (B, M, tf_dim) memory and its (B, M) padding mask (True: padding, never
        attended to; None: no padding). `sizes`: each image's own region (H_i, W_i) at the top left of x, as it is
        padded alone (paragraph_core.own_sizes); a model that reads each image on its own region (ResnetTransformer)
        reads it alike in any batch. This one reads the batch whole."""
        return self.encode(x), None

    def decode(self, memory: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits (B, C, Sy): position i scores the token that follows y[:, :i + 1]."""
        return self.decoder(memory, y)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """(B, 1, H, W) images and (B, Sy) input tokens -> (B, C, Sy) logits."""
        return self.decode(self.encode(x), y)

    def predict(
        self,
        x: torch.Tensor,
        max_length: int | None = None,
        beam_width: int = 1,
        return_log_probs: bool = False,
        guard_lines: bool = True,
        sizes: Sequence[tuple[int, int]] | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """(B, max_length) tokens: <S> first, <P> after <E> (greedy, or beam search when beam_width > 1).

        With return_log_probs, also each text's total log-probability (B,), a confidence. With
        guard_lines, no line grows longer than the image's ink can hold (line_guard.py): a decoder
        that loops stops there instead of at max_length. With `sizes` (encode_each), each image is read on its own
        region of the padded batch: what it reads does not depend on what it is batched with."""
        limits = self.line_limits(x) if guard_lines else None
        with torch.inference_mode():
            memory, memory_mask = self.encode_each(x, sizes)
        return self.decoder.generate(memory, max_length, beam_width, return_log_probs, line_limits=limits,
                                     memory_mask=memory_mask)

    def line_limits(self, x: torch.Tensor) -> torch.Tensor:
        """(B,) the most characters a line of each image's ink can hold (line_guard.py)."""
        images = x.detach().float().cpu().numpy()
        return torch.from_numpy(line_length_limits(images, min_char_width(self.data_config))).to(x.device)
