"""LineCNNTransformer: LineCNN features along a text line as memory for the transformer decoder.

For IAMLines (1, 56, 1024) the LineCNN gives 127 windows of tf_dim features; the 1D sinusoid
marks their order, and TransformerTextDecoder (the same as ResnetTransformer's, with the same
cached greedy and beam decoding) reads the text from them. Also works for EMNISTLines.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

import torch

from text_recognizer.models.image_to_text_transformer import ImageToTextTransformer
from text_recognizer.models.line_cnn import LineCNN, LineCNNConfig
from text_recognizer.models.transformer_decoder import TransformerDecoderConfig, TransformerTextDecoder
from text_recognizer.models.transformer_util import PositionalEncoding


@dataclass(frozen=True)
class LineCNNTransformerConfig(LineCNNConfig, TransformerDecoderConfig):
    """LineCNN's settings and the decoder's."""


class LineCNNTransformer(ImageToTextTransformer):
    """(B, 1, H, W) line images -> memory (B, S, tf_dim) -> tokens (B, max_length)."""

    Config = LineCNNTransformerConfig
    add_to_argparse = LineCNNTransformerConfig.add_to_argparse

    def __init__(self, data_config: dict[str, Any], args: argparse.Namespace | None = None) -> None:
        super().__init__()
        self.data_config = data_config
        self.config = self.Config.from_args(args)
        self.decoder = TransformerTextDecoder(data_config, args)
        dim = self.decoder.dim
        # LineCNN's last linear layer maps each window's features to tf_dim.
        self.line_cnn = LineCNN(data_config, args, num_outputs=dim)
        # Unlike the reference, the features are not multiplied by sqrt(tf_dim) before the sinusoid is
        # added: they come out of a linear layer at the scale the decoder's attention expects.
        _, _, width = data_config["input_dims"]
        self.pos_encoder = PositionalEncoding(dim, max_len=self.line_cnn.sequence_length(width))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, 56, 1024) lines -> (B, 127, tf_dim) memory."""
        features = self.line_cnn(x)  # (B, 256, 127)
        return self.pos_encoder(features.permute(0, 2, 1))  # (B, 127, 256)
