"""LineCNN: a convolutional net that slides a window along a line image, one output per window.

Convolutions (three of them strided) reduce the line 8x; a last convolution as tall as the
remaining feature map and window_width/8 wide, moving by window_stride/8, plays the role of the
window. Each window's features go through two fully connected layers. Output: (B, C, S) with C
the number of classes (or `num_outputs`) and S the number of windows,
S = (W/8 - window_width/8) // (window_stride/8) + 1 (127 for 1024-pixel IAM lines with the defaults).
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from text_recognizer.models.config import ModelConfig, setting

DOWNSAMPLING = 8  # three stride-2 convolutions


@dataclass(frozen=True)
class LineCNNConfig(ModelConfig):
    conv_dim: int = setting(32, "channels of the first convolutions", bounds=(1, 1024))
    fc_dim: int = setting(512, "features per window", bounds=(1, 16384))
    fc_dropout: float = setting(0.2, "dropout between the fc layers", bounds=(0, 1))
    window_width: int = setting(16, "window width in pixels (multiple of 8)", bounds=(1, 1024))
    window_stride: int = setting(8, "window step in pixels (multiple of 8)", bounds=(1, 1024))
    limit_output_length: bool = setting(False, "cut the output sequence to the label length (output_dims[0])")


def _halved(size: int) -> int:
    """Output size of a 3x3, stride-2, padding-1 convolution."""
    return (size + 1) // 2


class ConvBlock(nn.Module):
    """Convolution followed by ReLU (3x3, size-preserving unless a stride is given)."""

    def __init__(self, input_channels: int, output_channels: int, kernel_size: Any = 3, stride: Any = 1, padding: Any = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(input_channels, output_channels, kernel_size=kernel_size, stride=stride, padding=padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv(x))


class LineCNN(nn.Module):
    """(B, 1, H, W) line images -> (B, C, S) scores, one column per window (see the module docstring).

    Its settings: LineCNNConfig.

    `num_outputs` (default: the number of classes of the mapping) sets C; LineCNNTransformer uses
    it to get tf_dim features per window instead of class scores.
    """

    Config = LineCNNConfig
    add_to_argparse = LineCNNConfig.add_to_argparse

    def __init__(
        self, data_config: dict[str, Any], args: argparse.Namespace | None = None, num_outputs: int | None = None
    ) -> None:
        super().__init__()
        self.data_config = data_config
        self.config = config = self.Config.from_args(args)
        conv_dim, fc_dim = config.conv_dim, config.fc_dim
        self.window_width, self.window_stride = config.window_width, config.window_stride
        self.limit_output_length = config.limit_output_length
        self.output_length = data_config["output_dims"][0]
        for name, value in (("window_width", self.window_width), ("window_stride", self.window_stride)):
            if value <= 0 or value % DOWNSAMPLING:
                raise ValueError(f"--{name}={value} must be a positive multiple of {DOWNSAMPLING} (the convs reduce 8x)")
        channels, height, width = data_config["input_dims"]
        feature_height = _halved(_halved(_halved(height)))  # 7 for 56-pixel lines, 4 for 28
        if self.sequence_length(width) < 1:
            raise ValueError(f"images {width} pixels wide are narrower than --window_width={self.window_width}")

        self.convs = nn.Sequential(
            ConvBlock(channels, conv_dim),
            ConvBlock(conv_dim, conv_dim),
            ConvBlock(conv_dim, conv_dim, stride=2),  # (B, 32, 28, 512) for 56x1024
            ConvBlock(conv_dim, conv_dim),
            ConvBlock(conv_dim, conv_dim * 2, stride=2),  # (B, 64, 14, 256)
            ConvBlock(conv_dim * 2, conv_dim * 2),
            ConvBlock(conv_dim * 2, conv_dim * 4, stride=2),  # (B, 128, 7, 128)
            ConvBlock(conv_dim * 4, conv_dim * 4),
            ConvBlock(  # the window: full height, window_width/8 columns, moving window_stride/8
                conv_dim * 4,
                fc_dim,
                kernel_size=(feature_height, self.window_width // DOWNSAMPLING),
                stride=(feature_height, self.window_stride // DOWNSAMPLING),
                padding=0,
            ),  # (B, 512, 1, 127)
        )
        self.fc1 = nn.Linear(fc_dim, fc_dim)
        self.dropout = nn.Dropout(config.fc_dropout)
        self.fc2 = nn.Linear(fc_dim, num_outputs or len(data_config["mapping"]))
        self.init_weights()

    def init_weights(self) -> None:
        # PyTorch's default conv init shrinks the signal about 3x per conv+ReLU: after these nine
        # convolutions two different lines gave outputs differing by 1e-5 of their size, and a
        # LineCNNTransformer learnt the language of its labels but ignored the image. He init
        # (fan_in, ReLU) keeps the scale of the signal through the stack.
        for module in self.convs.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def sequence_length(self, width: int) -> int:
        """Number of windows S for an image `width` pixels wide."""
        feature_width = _halved(_halved(_halved(width)))
        return (feature_width - self.window_width // DOWNSAMPLING) // (self.window_stride // DOWNSAMPLING) + 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.convs(x)  # (B, 512, 1, S)
        x = x.squeeze(2).permute(0, 2, 1)  # (B, S, 512)
        x = self.fc2(self.dropout(F.relu(self.fc1(x))))  # (B, S, C)
        x = x.permute(0, 2, 1)  # (B, C, S)
        if self.limit_output_length:
            x = x[:, :, : self.output_length]
        return x
