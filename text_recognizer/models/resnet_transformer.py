"""ResnetTransformer: a ResNet-18 encoder and a transformer decoder that reads whole paragraphs.

Encoder: torchvision's resnet18 (random init) without its average pool and classifier turns a
(B, 1, 576, 640) page into (B, 512, 18, 20) features (stride 32); a 1x1 convolution projects them
to tf_dim channels, a 2D sinusoid marks each cell's row and column, and the cells are flattened
row by row into 360 memory tokens. Decoder: TransformerTextDecoder (transformer_decoder.py).

--horizontal_stride=16 or 8 keeps more columns: the last one or two stages halve the height only
(stride (2, 1), as DAN's encoder does). At /32 a 44-character line of 46x492 px gets 16 columns,
fewer than one per character; at /8 it gets 62, enough for a CTC head (--ctc_weight in the
Lightning module) and for attention to tell neighbouring letters apart, for 1.5x the encoder's time.

The line CTC head (`add_ctc_head`, made by --ctc_weight) reads each feature column (max over the
rows): trained on single lines, it is a second way to read a line (`predict_ctc`), one pass with no
loop to lose its place in; `predict_joint` reads each line both ways and keeps the likelier text. Its
weights travel in the model file; a model without them has none.

Given `sizes` (each image's own region of a padded batch), the predict methods read each image on its own
region: images of one size are encoded together, cropped to it, and the decoder and the CTC head see none
of the padding (text_recognizer/batch_regions.py): an image reads the same in any batch.
"""
from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torchvision
from torch import nn

from text_recognizer.batch_regions import groups_of_equal_size, pad_ctc_frames
from text_recognizer.joint_decoding import JOINT_CTC_WEIGHT, ctc_log_likelihoods, joint_choice
from text_recognizer.models import decoding
from text_recognizer.models.config import setting
from text_recognizer.models.image_to_text_transformer import ImageToTextTransformer
from text_recognizer.models.transformer_decoder import TransformerDecoderConfig, TransformerTextDecoder
from text_recognizer.models.transformer_util import PositionalEncodingImage
from text_recognizer.vocabulary import Vocabulary, trim_padding

RESNET_DIM = 512  # channels of resnet18's last stage
RESNET_DOWNSAMPLINGS = 5  # stem conv, max-pool and three strided stages each halve (rounding up): stride 32
HORIZONTAL_STRIDE = 32  # the reference's: every stage halves both dimensions
HORIZONTAL_STRIDES = (8, 16, 32)


def resnet_output_size(size: int, stride: int = 32) -> int:
    """Height or width of resnet18's feature map for an input of `size` pixels, at a total `stride`.

    >>> resnet_output_size(576), resnet_output_size(640), resnet_output_size(100)
    (18, 20, 4)
    >>> resnet_output_size(640, stride=8), resnet_output_size(492, stride=8)
    (80, 62)
    """
    for _ in range(RESNET_DOWNSAMPLINGS - _unstrided_stages(stride)):
        size = (size + 1) // 2
    return size


def _unstrided_stages(stride: int) -> int:
    """How many of the last stages keep the width: 0 at /32, 1 at /16, 2 at /8."""
    if stride not in HORIZONTAL_STRIDES:
        raise ValueError(f"--horizontal_stride must be one of {HORIZONTAL_STRIDES}, got {stride}")
    return {32: 0, 16: 1, 8: 2}[stride]


def resnet18_trunk(horizontal_stride: int = HORIZONTAL_STRIDE) -> nn.Sequential:
    """torchvision's resnet18 (random init) without average pool and classifier; the last stages of a
    finer --horizontal_stride halve the height only."""
    resnet = torchvision.models.resnet18(weights=None)
    stages = [resnet.layer3, resnet.layer4][2 - _unstrided_stages(horizontal_stride) :]
    for stage in stages:
        block = stage[0]  # a stage's first block does its striding, in conv1 and in the shortcut
        assert block.downsample is not None
        block.conv1.stride = block.downsample[0].stride = (2, 1)
    return nn.Sequential(*list(resnet.children())[:-2])


@dataclass(frozen=True)
class ResnetTransformerConfig(TransformerDecoderConfig):
    horizontal_stride: int = setting(
        HORIZONTAL_STRIDE, "input pixels per memory column (32: the reference's; 8: DAN's, a column or more per "
        "character, needed by --ctc_weight)", choices=HORIZONTAL_STRIDES,
    )


class ResnetTransformer(ImageToTextTransformer):
    """(B, 1, H, W) images -> memory (B, H/32 * W/stride, tf_dim) -> tokens (B, max_length)."""

    Config = ResnetTransformerConfig
    add_to_argparse = ResnetTransformerConfig.add_to_argparse

    def __init__(self, data_config: dict[str, Any], args: argparse.Namespace | None = None) -> None:
        super().__init__()
        self.data_config = data_config
        self.config = self.Config.from_args(args)
        self.decoder = TransformerTextDecoder(data_config, args)
        dim = self.decoder.dim
        if dim % 4:
            raise ValueError(f"--tf_dim={dim} must be divisible by 4 (the 2D positional encoding splits it in four)")

        stride = self.config.horizontal_stride
        self.resnet = resnet18_trunk(stride)
        self.encoder_projection = nn.Conv2d(RESNET_DIM, dim, kernel_size=1)
        _, height, width = data_config["input_dims"]
        self.enc_pos_encoder = PositionalEncodingImage(
            dim, resnet_output_size(height), resnet_output_size(width, stride)
        )
        self.ctc_head: nn.Linear | None = None
        self.init_weights()

    def add_ctc_head(self, frames_per_column: int = 1) -> nn.Linear:
        """The line CTC head: `frames_per_column` predictions over the mapping per feature column."""
        if self.config.horizontal_stride != 8:
            raise ValueError(f"a CTC head needs --horizontal_stride=8 (a column or more per character), not "
                             f"{self.config.horizontal_stride}")
        self.ctc_head = nn.Linear(self.decoder.dim, frames_per_column * len(self.data_config["mapping"]))
        return self.ctc_head

    def ctc_logits(self, features: torch.Tensor) -> torch.Tensor:
        """(B, tf_dim, h, w) features -> (B, w * frames_per_column, C) CTC logits, left to right."""
        assert self.ctc_head is not None, "the model has no CTC head (add_ctc_head)"
        columns = features.amax(dim=2).transpose(1, 2)  # (B, w, dim): the strongest row of each column
        return self.ctc_head(columns).reshape(columns.shape[0], -1, len(self.data_config["mapping"]))

    def predict_ctc(
        self, x: torch.Tensor, max_length: int | None = None, sizes: Sequence[tuple[int, int]] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Line images -> (B, max_length) tokens laid out as `predict`'s (<S>, the line, <E>, <P>...) by
        the CTC head's best path, and each text's log-probability: the sum over the frames that wrote a
        character of that character's log-probability. `sizes`: as `encode_each`'s."""
        with torch.inference_mode():
            groups = self.features_each(x, sizes)
            log_probs = self.ctc_log_probs_each(groups, x.shape[0])
        tokens, totals = self._ctc_best_path(log_probs, max_length or self.data_config["output_dims"][0])
        return torch.from_numpy(tokens).to(x.device), torch.from_numpy(totals).to(x.device)

    def ctc_log_probs(self, features: torch.Tensor) -> np.ndarray:
        """(B, tf_dim, h, w) features -> (B, frames, C) float32 log-probabilities of the CTC head."""
        return torch.log_softmax(self.ctc_logits(features).float(), dim=-1).cpu().numpy()

    def _ctc_best_path(self, log_probs: np.ndarray, max_length: int) -> tuple[np.ndarray, np.ndarray]:
        return Vocabulary(self.data_config["mapping"]).ctc_best_path(log_probs.argmax(-1), log_probs.max(-1), max_length)

    def predict_joint(
        self, x: torch.Tensor, max_length: int | None = None, guard_lines: bool = True, ctc_weight: float = JOINT_CTC_WEIGHT,
        sizes: Sequence[tuple[int, int]] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Line images -> (B, max_length) tokens laid out as `predict`'s and each text's joint score: of the
        CTC head's best path and the attention decoder's greedy text, the one that both models together
        find likelier (joint_decoding.py; the ResNet runs once for both). `sizes`: as `encode_each`'s."""
        max_length = max_length or self.data_config["output_dims"][0]
        with torch.inference_mode():
            groups = self.features_each(x, sizes)
            ctc_log_probs = self.ctc_log_probs_each(groups, x.shape[0])
            memory, memory_mask = self.memory_each(groups, x.shape[0])
        limits = self.line_limits(x) if guard_lines else None
        attention_tokens, _ = decoding.greedy_decode(self.decoder, memory, max_length, line_limits=limits,
                                                     memory_mask=memory_mask)
        vocabulary = Vocabulary(self.data_config["mapping"])
        assert vocabulary.blank is not None, "a CTC head's mapping has the blank <B>"
        ctc_tokens, _ = self._ctc_best_path(ctc_log_probs, max_length)
        candidates = [ctc_tokens, attention_tokens.cpu().numpy()]
        # Both candidates scored by the decoder in one teacher-forced pass of twice the batch, cut to the
        # longest text (a pass over all max_length positions took 4x the whole attention read).
        both = torch.from_numpy(trim_padding(np.concatenate(candidates), self.decoder.padding_token)).to(x.device)
        both_masks = None if memory_mask is None else torch.cat([memory_mask, memory_mask])
        attention_scores = self.decoder.sequence_log_likelihood(torch.cat([memory, memory]), both, both_masks).cpu().numpy()
        tokens, scores = joint_choice(
            candidates,
            [ctc_log_likelihoods(ctc_log_probs, vocabulary.texts(candidate), vocabulary.blank) for candidate in candidates],
            np.split(attention_scores, 2),
            ctc_weight,
        )
        return torch.from_numpy(tokens).to(x.device), torch.from_numpy(scores).to(x.device)

    def init_weights(self) -> None:
        # The reference's init. It makes the memory's scale about sqrt(2 * 512 / tf_dim) times the
        # trunk's: ~2.6 at tf_dim=256, where 3 short texts are learnt in 25 steps, but ~7 at tf_dim=32,
        # where the memory swamps the token embeddings in the post-norm residual stream and a tiny model
        # barely learns (loss 2.36 after 100 steps, 0.73 with the memory scaled by 0.1). Keep tf_dim >= 128.
        nn.init.kaiming_normal_(self.encoder_projection.weight, mode="fan_out", nonlinearity="relu")
        bound = 1 / math.sqrt(self.encoder_projection.out_channels)  # fan_out of a 1x1 conv
        if self.encoder_projection.bias is not None:
            nn.init.uniform_(self.encoder_projection.bias, -bound, bound)

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, H, W) images -> (B, tf_dim, H/32, W/stride) projected features, before positions."""
        if x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)  # resnet18 expects three channels
        return self.encoder_projection(self.resnet(x))  # (B, 256, 18, 20) for 576x640 at /32

    def memory(self, features: torch.Tensor) -> torch.Tensor:
        """(B, tf_dim, h, w) features -> (B, h * w, tf_dim) memory: positions added, cells in row-major order."""
        return self.enc_pos_encoder(features).flatten(start_dim=2).permute(0, 2, 1)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, 576, 640) images -> (B, 360, tf_dim) memory (at /32)."""
        return self.memory(self.feature_map(x))

    def encode_each(
        self, x: torch.Tensor, sizes: Sequence[tuple[int, int]] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(B, 1, H, W) padded images -> (B, M, tf_dim) memory, each image's cells first, and the (B, M) mask of
        the padding after them (None without `sizes`: the padded batch read whole, as training reads it).
        `sizes`: each image's own region (H_i, W_i) at the top left of x, as it is padded alone
        (paragraph_core.own_sizes)."""
        return self.memory_each(self.features_each(x, sizes), x.shape[0])

    def features_each(
        self, x: torch.Tensor, sizes: Sequence[tuple[int, int]] | None
    ) -> list[tuple[list[int], torch.Tensor]]:
        """(rows of x, their (b, tf_dim, h, w) features) per group of images of one own size, each group cropped
        to it: the ResNet's edges then see what they see when the image is alone (batch_regions.py). Without
        `sizes`, one group: the whole batch as it is padded."""
        if sizes is None:
            return [(list(range(x.shape[0])), self.feature_map(x))]
        if len(sizes) != x.shape[0]:
            raise ValueError(f"{len(sizes)} sizes for a batch of {x.shape[0]} images")
        return [(rows, self.feature_map(x[rows, :, :height, :width]))
                for (height, width), rows in groups_of_equal_size(sizes)]

    def memory_each(
        self, groups: list[tuple[list[int], torch.Tensor]], batch: int
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """`features_each`'s groups -> (B, M, tf_dim) memory and its (B, M) padding mask (None for one group)."""
        if len(groups) == 1:
            return self.memory(groups[0][1]), None
        memories = [(rows, self.memory(features)) for rows, features in groups]  # (b, h * w, tf_dim) each
        first = memories[0][1]
        length = max(memory.shape[1] for _, memory in memories)
        memory = first.new_zeros((batch, length, first.shape[2]))
        padding = torch.ones((batch, length), dtype=torch.bool, device=first.device)
        for rows, group_memory in memories:
            index = torch.tensor(rows, device=first.device)
            memory[index, : group_memory.shape[1]] = group_memory
            padding[index, : group_memory.shape[1]] = False
        return memory, padding

    def ctc_log_probs_each(self, groups: list[tuple[list[int], torch.Tensor]], batch: int) -> np.ndarray:
        """`features_each`'s groups -> (B, frames, C) log-probabilities of the CTC head, each row's own frames
        followed by frames certain of the blank (batch_regions.pad_ctc_frames)."""
        if len(groups) == 1:
            return self.ctc_log_probs(groups[0][1])
        blank = Vocabulary(self.data_config["mapping"]).blank
        assert blank is not None, "a CTC head's mapping has the blank <B>"
        return pad_ctc_frames([(rows, self.ctc_log_probs(features)) for rows, features in groups], batch, blank)
