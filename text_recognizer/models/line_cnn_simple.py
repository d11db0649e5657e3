"""LineCNNSimple: the single-character CNN applied to every window of a line image.

With the default 28-pixel window and stride on EMNISTLines, each window holds exactly one
character cell, so the output sequence lines up with the label (one prediction per character).
Overlapping characters break that alignment; LineCNN/LineCNNLSTM with CTC handle them.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from text_recognizer.models.cnn import CNN, CNNConfig
from text_recognizer.models.config import setting


@dataclass(frozen=True)
class LineCNNSimpleConfig(CNNConfig):
    window_width: int = setting(28, "width of the sliding window", bounds=(1, 1024))
    window_stride: int = setting(28, "step of the sliding window", bounds=(1, 1024))
    limit_output_length: bool = setting(False, "cut the output sequence to the label length (output_dims[0])")


class LineCNNSimple(nn.Module):
    """(B, 1, H, W) line image -> (B, C, S) logits, S = (W - window_width) // window_stride + 1."""

    Config = LineCNNSimpleConfig
    add_to_argparse = LineCNNSimpleConfig.add_to_argparse

    def __init__(self, data_config: dict[str, Any], args: argparse.Namespace | None = None) -> None:
        super().__init__()
        self.data_config = data_config
        self.config = config = self.Config.from_args(args)
        self.window_width, self.window_stride = config.window_width, config.window_stride
        self.limit_output_length = config.limit_output_length
        self.output_length = data_config["output_dims"][0]
        channels, height, _width = data_config["input_dims"]
        window_config = {**data_config, "input_dims": (channels, height, self.window_width)}
        self.cnn = CNN(data_config=window_config, args=args)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = x.shape
        if width < self.window_width:
            raise ValueError(f"image width {width} is narrower than --window_width={self.window_width}")
        windows = x.unfold(3, self.window_width, self.window_stride)  # (B, 1, 28, S, 28) for 28x896 lines
        num_windows = windows.shape[3]
        windows = windows.permute(0, 3, 1, 2, 4).reshape(batch * num_windows, channels, height, self.window_width)
        logits = self.cnn(windows)  # (B * S, C)
        logits = logits.reshape(batch, num_windows, -1).permute(0, 2, 1)  # (B, C, S), S = 32 for 28x896
        if self.limit_output_length:
            logits = logits[:, :, : self.output_length]
        return logits
