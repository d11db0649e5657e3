"""ResnetTransformer: a ResNet-18 encoder and a transformer decoder that reads whole paragraphs.

Encoder: torchvision's resnet18 (random init) without its average pool and classifier turns a
(B, 1, 576, 640) page into (B, 512, 18, 20) features (stride 32); a 1x1 convolution projects them
to tf_dim channels, a 2D sinusoid marks each cell's row and column, and the cells are flattened
row by row into 360 memory tokens. Decoder: TransformerTextDecoder (transformer_decoder.py).
"""
from __future__ import annotations

import argparse
import math
from typing import Any

import torch
import torchvision
from torch import nn

from text_recognizer.models.transformer_decoder import ImageToTextTransformer, TransformerTextDecoder
from text_recognizer.models.transformer_util import PositionalEncodingImage

RESNET_DIM = 512  # channels of resnet18's last stage
RESNET_DOWNSAMPLINGS = 5  # stem conv, max-pool and three strided stages each halve (rounding up): stride 32


def resnet_output_size(size: int) -> int:
    """Height or width of resnet18's feature map for an input of `size` pixels.

    >>> resnet_output_size(576), resnet_output_size(640), resnet_output_size(100)
    (18, 20, 4)
    """
    for _ in range(RESNET_DOWNSAMPLINGS):
        size = (size + 1) // 2
    return size


class ResnetTransformer(ImageToTextTransformer):
    """(B, 1, H, W) images -> memory (B, H/32 * W/32, tf_dim) -> tokens (B, max_length)."""

    def __init__(self, data_config: dict[str, Any], args: argparse.Namespace | None = None) -> None:
        super().__init__()
        self.data_config = data_config
        self.decoder = TransformerTextDecoder(data_config, args)
        dim = self.decoder.dim
        if dim % 4:
            raise ValueError(f"--tf_dim={dim} must be divisible by 4 (the 2D positional encoding splits it in four)")

        resnet = torchvision.models.resnet18(weights=None)
        self.resnet = nn.Sequential(*list(resnet.children())[:-2])  # without avgpool and fc
        self.encoder_projection = nn.Conv2d(RESNET_DIM, dim, kernel_size=1)
        _, height, width = data_config["input_dims"]
        self.enc_pos_encoder = PositionalEncodingImage(dim, resnet_output_size(height), resnet_output_size(width))
        self.init_weights()

    def init_weights(self) -> None:
        # The reference's init. It makes the memory's scale about sqrt(2 * 512 / tf_dim) times the
        # trunk's: ~2.6 at tf_dim=256, where 3 short texts are learnt in 25 steps, but ~7 at tf_dim=32,
        # where the memory swamps the token embeddings in the post-norm residual stream and a tiny model
        # barely learns (loss 2.36 after 100 steps, 0.73 with the memory scaled by 0.1). Keep tf_dim >= 128.
        nn.init.kaiming_normal_(self.encoder_projection.weight, mode="fan_out", nonlinearity="relu")
        bound = 1 / math.sqrt(self.encoder_projection.out_channels)  # fan_out of a 1x1 conv
        if self.encoder_projection.bias is not None:
            nn.init.uniform_(self.encoder_projection.bias, -bound, bound)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, 576, 640) images -> (B, 360, tf_dim) memory, cells in row-major order."""
        if x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)  # resnet18 expects three channels
        x = self.resnet(x)  # (B, 512, 18, 20)
        x = self.encoder_projection(x)  # (B, 256, 18, 20)
        x = self.enc_pos_encoder(x)
        return x.flatten(start_dim=2).permute(0, 2, 1)  # (B, 360, 256)

    @staticmethod
    def add_to_argparse(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        return TransformerTextDecoder.add_to_argparse(parser)
