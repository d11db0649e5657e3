"""Decoding a TextDecoder: cached greedy, cached beam search, and the naive reference.

The naive decoder re-runs the whole prefix through nn.TransformerDecoder at every step (what the
reference did: quadratic in the output length). The cached decoders feed only the newest token:
each layer keeps the keys and values of the tokens already decoded (preallocated, written in
place), and the keys and values of the memory are computed once. The incremental layer math
below uses the nn.TransformerDecoderLayer's own parameters, so it shares its weights with the
teacher-forced path; tests check that cached and naive decoding give the same tokens.

Every decoder returns (tokens, log_probs): tokens (B, max_length) start with <S>; after the first
<E> (or <P>) every token is <P>; log_probs (B,) is the total log-probability of each text, its
<E> included. `min_length` forbids <E>/<P> before position min_length - 1 (benchmarks use it to
force a length). `line_limits` (B,) caps the characters of each text's lines (line_guard.py): once
a line holds its limit, the text ends there (<E>, at no cost to its log_prob), as a loop would.
`memory_mask` (B, M), True at the memory cells that are padding (of images of several sizes batched
together), keeps the cross-attention off them: their weight is exactly zero, so a text reads the same
whatever it is batched with (issue 34).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol, cast

import torch
import torch.nn.functional as F
from torch import nn


class TextDecoder(Protocol):
    """What decoding uses of a decoder (TransformerTextDecoder has it): its tokens, its layers, its output."""

    start_token: int
    end_token: int
    padding_token: int
    newline_token: int | None  # None: the vocabulary has no line break (line models), a text is one line
    num_classes: int

    @property
    def layers(self) -> Iterable[nn.Module]: ...  # nn.TransformerDecoderLayer, in order

    def embed(self, y: torch.Tensor, offset: int = 0) -> torch.Tensor: ...  # (B, Sy) tokens -> (B, Sy, dim) inputs

    def output_logits(self, x: torch.Tensor) -> torch.Tensor: ...  # (..., dim) last layer's output -> (..., C)

    def sequence_logits(  # teacher-forced (B, Sy, C)
        self, memory: torch.Tensor, y: torch.Tensor, memory_mask: torch.Tensor | None = None
    ) -> torch.Tensor: ...


class _Layer:
    """The parameters of one nn.TransformerDecoderLayer, sliced once per decoding call, so that a step
    is a short run of functional ops (module calls and per-step slicing cost as much as the math at batch 1)."""

    def __init__(self, layer: nn.TransformerDecoderLayer) -> None:
        self_attention, cross_attention = layer.self_attn, layer.multihead_attn
        if self_attention.in_proj_weight is None or cross_attention.in_proj_weight is None:
            raise ValueError("cached decoding needs attention layers with packed in_proj weights")
        dim = self_attention.embed_dim
        self.dim, self.heads, self.norm_first = dim, self_attention.num_heads, layer.norm_first
        self.head_dim = dim // self.heads
        # Under autocast, the weights of the linear layers are cast once here rather than at every step
        # (autocast re-casts a weight at each call: that tripled the time of bf16 decoding at batch 1).
        device = self_attention.in_proj_weight.device.type
        dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else None

        def weights(weight: torch.Tensor, bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return (weight.to(dtype), bias.to(dtype)) if dtype is not None else (weight, bias)

        self.qkv = weights(self_attention.in_proj_weight, self_attention.in_proj_bias)
        self.self_out = weights(self_attention.out_proj.weight, self_attention.out_proj.bias)
        self.cross_q = weights(cross_attention.in_proj_weight[:dim], cross_attention.in_proj_bias[:dim])
        self.cross_kv = weights(cross_attention.in_proj_weight[dim:], cross_attention.in_proj_bias[dim:])  # K, V rows
        self.cross_out = weights(cross_attention.out_proj.weight, cross_attention.out_proj.bias)
        self.linear1 = weights(layer.linear1.weight, layer.linear1.bias)
        self.linear2 = weights(layer.linear2.weight, layer.linear2.bias)
        self.activation = layer.activation
        self.norms = [(norm.normalized_shape, norm.weight, norm.bias, norm.eps) for norm in (layer.norm1, layer.norm2, layer.norm3)]
        # Dropout as in the layer's own forward (nothing in eval mode, which is how decoding normally runs).
        self.dropout = layer.dropout.p if layer.training else 0.0
        self.attention_dropout = self_attention.dropout if layer.training else 0.0

    def norm(self, index: int, x: torch.Tensor) -> torch.Tensor:
        shape, weight, bias, eps = self.norms[index]
        return F.layer_norm(x, shape, weight, bias, eps)

    def drop(self, x: torch.Tensor) -> torch.Tensor:
        return F.dropout(x, self.dropout, training=True) if self.dropout else x

    def memory_keys_values(self, memory: torch.Tensor) -> torch.Tensor:
        """(B, M, d) memory -> cross-attention keys and values, (2, B, h, M, dh)."""
        batch, length = memory.shape[:2]
        kv = F.linear(memory, *self.cross_kv).view(batch, length, 2, self.heads, self.head_dim)  # (B, M, 2, h, dh)
        return kv.permute(2, 0, 3, 1, 4).contiguous()

    def attend(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, out: tuple, allowed: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(B, h, 1, dh) query over (B, h, S, dh) keys/values, only where `allowed` (B, 1, 1, S) if given ->
        (B, 1, d) after the output projection."""
        attended = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, dropout_p=self.attention_dropout)  # (B, h, 1, dh)
        return F.linear(attended.reshape(q.shape[0], 1, self.dim), *out)  # heads side by side, as nn.MultiheadAttention

    def self_attention(self, x: torch.Tensor, kv_cache: torch.Tensor, t: int) -> torch.Tensor:
        qkv = F.linear(x, *self.qkv).view(x.shape[0], 3, self.heads, self.head_dim)  # (B, 1, 3d) -> (B, 3, h, dh)
        kv_cache[:, :, :, t] = qkv[:, 1:].transpose(0, 1)  # keys and values of the new token, in place
        past = kv_cache[:, :, :, : t + 1]  # (2, B, h, t + 1, dh)
        return self.attend(qkv[:, 0].unsqueeze(2), past[0], past[1], self.self_out)

    def cross_attention(self, x: torch.Tensor, memory_kv: torch.Tensor, allowed: torch.Tensor | None = None) -> torch.Tensor:
        q = F.linear(x, *self.cross_q).view(x.shape[0], self.heads, 1, self.head_dim)  # (B, h, 1, dh)
        return self.attend(q, memory_kv[0], memory_kv[1], self.cross_out, allowed)

    def feed_forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(self.drop(self.activation(F.linear(x, *self.linear1))), *self.linear2)

    def residual_blocks(
        self, x: torch.Tensor, self_attention: Callable[[torch.Tensor], torch.Tensor],
        cross_attention: Callable[[torch.Tensor], torch.Tensor],
    ) -> torch.Tensor:
        """The layer's three sublayers around its residual stream, pre- or post-norm as the layer was built,
        with the two attentions given as functions of their input (the export's graphs attend their own way)."""
        if self.norm_first:
            x = x + self.drop(self_attention(self.norm(0, x)))
            x = x + self.drop(cross_attention(self.norm(1, x)))
            return x + self.drop(self.feed_forward(self.norm(2, x)))
        x = self.norm(0, x + self.drop(self_attention(x)))
        x = self.norm(1, x + self.drop(cross_attention(x)))
        return self.norm(2, x + self.drop(self.feed_forward(x)))

    def step(
        self, x: torch.Tensor, kv_cache: torch.Tensor, memory_kv: torch.Tensor, t: int, allowed: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The layer applied to the newest token only: (B, 1, d) -> (B, 1, d); `allowed` (B, 1, 1, M): the memory
        cells it may attend to (None: all)."""
        return self.residual_blocks(x, lambda h: self.self_attention(h, kv_cache, t),
                                    lambda h: self.cross_attention(h, memory_kv, allowed))


class _Cache:
    """Keys/values per layer: of the memory (computed once) and of the decoded tokens (filled step by step)."""

    def __init__(
        self, decoder: TextDecoder, memory: torch.Tensor, max_length: int, memory_mask: torch.Tensor | None = None
    ) -> None:
        self.decoder = decoder
        # (B, 1, 1, M) True where a cell may be attended to: broadcast over the heads and the query
        self.allowed = None if memory_mask is None else ~memory_mask[:, None, None, :]
        self.layers = [_Layer(cast(nn.TransformerDecoderLayer, layer)) for layer in decoder.layers]
        self.memory_kv = [layer.memory_keys_values(memory) for layer in self.layers]  # (2, B, h, M, dh) each
        batch, heads, _, head_dim = self.memory_kv[0].shape[1:]
        # (L, 2, B, h, T, dh), in the dtype autocast gives the projections (bf16 under bf16 autocast)
        self.self_kv = memory.new_empty((len(self.layers), 2, batch, heads, max_length, head_dim), dtype=self.memory_kv[0].dtype)

    def step_logits(self, token: torch.Tensor, t: int) -> torch.Tensor:
        """(B, 1) token at position t -> (B, C) logits for position t + 1."""
        x = self.decoder.embed(token, offset=t)  # (B, 1, d)
        for layer, kv_cache, memory_kv in zip(self.layers, self.self_kv, self.memory_kv):
            x = layer.step(x, kv_cache, memory_kv, t, self.allowed)
        return _scores_dtype(self.decoder.output_logits(x[:, 0]))

    def reorder(self, source: torch.Tensor, length: int) -> None:
        """Beam search: row b now continues row source[b]; only the first `length` positions are kept."""
        self.self_kv[..., :length, :] = self.self_kv[:, :, source, :, :length, :]


def _scores_dtype(logits: torch.Tensor) -> torch.Tensor:
    """Scores are compared and summed in float32 (float64 models keep float64), whatever autocast gave."""
    return logits if logits.dtype == torch.float64 else logits.float()


def _start(decoder: TextDecoder, batch: int, max_length: int, device: torch.device) -> torch.Tensor:
    if max_length < 2:
        raise ValueError(f"max_length must leave room for <S> and one token, got {max_length}")
    tokens = torch.full((batch, max_length), decoder.padding_token, dtype=torch.long, device=device)
    tokens[:, 0] = decoder.start_token
    return tokens


def _forbid_stopping(decoder: TextDecoder, scores: torch.Tensor, position: int, min_length: int) -> None:
    if position < min_length - 1:
        scores[:, [decoder.end_token, decoder.padding_token]] = float("-inf")


class _LineGuard:
    """The length of each row's current line, and the rule that ends a text whose line is full."""

    def __init__(self, decoder: TextDecoder, limits: torch.Tensor | None) -> None:
        self.decoder, self.limits = decoder, limits
        self.lengths = None if limits is None else torch.zeros_like(limits)

    def restrict(self, scores: torch.Tensor) -> None:
        """Rows whose current line holds its limit may only end: <E> gets all the probability."""
        if self.limits is None or self.lengths is None:
            return
        full = self.lengths >= self.limits
        if full.any():
            scores[full] = float("-inf")
            scores[full, self.decoder.end_token] = 0.0

    def advance(self, token: torch.Tensor, source: torch.Tensor | None = None) -> None:
        """Counts the (B,) tokens just appended; beam search first reorders the rows by `source`."""
        if self.lengths is None:
            return
        lengths = self.lengths if source is None else self.lengths[source]
        decoder = self.decoder
        is_character = (token != decoder.end_token) & (token != decoder.padding_token)
        if decoder.newline_token is None:
            self.lengths = lengths + is_character.long()
            return
        line_break = token == decoder.newline_token
        self.lengths = torch.where(line_break, 0, lengths + (is_character & ~line_break).long())


def _greedy_choice(
    decoder: TextDecoder,
    logits: torch.Tensor,
    tokens: torch.Tensor,
    log_probs: torch.Tensor,
    finished: torch.Tensor,
    t: int,
    min_length: int,
    guard: _LineGuard,
) -> None:
    """Appends the argmax token at position t + 1 (<P> for finished rows), updating log_probs and finished."""
    _forbid_stopping(decoder, logits, t + 1, min_length)
    guard.restrict(logits)
    token = logits.argmax(dim=-1)  # (B,)
    step_log_probs = torch.log_softmax(logits, dim=-1).gather(1, token.unsqueeze(1)).squeeze(1)
    log_probs += step_log_probs.masked_fill(finished, 0.0)
    token.masked_fill_(finished, decoder.padding_token)
    tokens[:, t + 1] = token
    finished |= (token == decoder.end_token) | (token == decoder.padding_token)
    guard.advance(token)


@torch.inference_mode()
def greedy_decode(
    decoder: TextDecoder,
    memory: torch.Tensor,
    max_length: int,
    min_length: int = 0,
    line_limits: torch.Tensor | None = None,
    memory_mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Batched greedy decoding with cached keys and values: one token per step through each layer."""
    batch = memory.shape[0]
    tokens = _start(decoder, batch, max_length, memory.device)
    log_probs = torch.zeros(batch, dtype=_scores_dtype(memory).dtype, device=memory.device)
    finished = torch.zeros(batch, dtype=torch.bool, device=memory.device)
    guard = _LineGuard(decoder, line_limits)
    cache = _Cache(decoder, memory, max_length, memory_mask)
    for t in range(max_length - 1):
        logits = cache.step_logits(tokens[:, t : t + 1], t)
        _greedy_choice(decoder, logits, tokens, log_probs, finished, t, min_length, guard)
        if finished.all():
            break
    return tokens, log_probs


@torch.inference_mode()
def naive_greedy_decode(
    decoder: TextDecoder,
    memory: torch.Tensor,
    max_length: int,
    min_length: int = 0,
    line_limits: torch.Tensor | None = None,
    memory_mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The reference's decoding (whole prefix re-run at every step), kept to test the cached one against."""
    batch = memory.shape[0]
    tokens = _start(decoder, batch, max_length, memory.device)
    log_probs = torch.zeros(batch, dtype=_scores_dtype(memory).dtype, device=memory.device)
    finished = torch.zeros(batch, dtype=torch.bool, device=memory.device)
    guard = _LineGuard(decoder, line_limits)
    for t in range(max_length - 1):
        logits = _scores_dtype(decoder.sequence_logits(memory, tokens[:, : t + 1], memory_mask)[:, -1])  # (B, C)
        _greedy_choice(decoder, logits, tokens, log_probs, finished, t, min_length, guard)
        if finished.all():
            break
    return tokens, log_probs


@torch.inference_mode()
def beam_search_decode(
    decoder: TextDecoder,
    memory: torch.Tensor,
    max_length: int,
    beam_width: int,
    min_length: int = 0,
    line_limits: torch.Tensor | None = None,
    memory_mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Beam search (cached) keeping the `beam_width` most probable prefixes; returns the most probable text.

    Scores are total log-probabilities, without length normalisation, so width 1 is greedy decoding.
    """
    if not 1 <= beam_width <= decoder.num_classes:
        raise ValueError(f"beam_width must be between 1 and {decoder.num_classes}, got {beam_width}")
    batch, width, classes = memory.shape[0], beam_width, decoder.num_classes
    device = memory.device
    memory = memory.repeat_interleave(width, dim=0)  # (B * K, M, d): beams of a text are adjacent rows
    memory_mask = None if memory_mask is None else memory_mask.repeat_interleave(width, dim=0)
    tokens = _start(decoder, batch * width, max_length, device)
    scores = torch.zeros(batch, width, dtype=_scores_dtype(memory).dtype, device=device)
    scores[:, 1:] = float("-inf")  # the K beams start identical: only the first one is expanded
    finished = torch.zeros(batch * width, dtype=torch.bool, device=device)
    only_padding = torch.full((classes,), float("-inf"), dtype=scores.dtype, device=device)
    only_padding[decoder.padding_token] = 0.0  # a finished beam continues with <P> at no cost
    first_row = torch.arange(batch, device=device).unsqueeze(1) * width  # (B, 1)
    guard = _LineGuard(decoder, None if line_limits is None else line_limits.repeat_interleave(width))
    cache = _Cache(decoder, memory, max_length, memory_mask)
    for t in range(max_length - 1):
        logits = cache.step_logits(tokens[:, t : t + 1], t)  # (B * K, C)
        _forbid_stopping(decoder, logits, t + 1, min_length)
        guard.restrict(logits)
        log_p = torch.log_softmax(logits, dim=-1)
        log_p = torch.where(finished.unsqueeze(1), only_padding, log_p)
        candidates = (scores.reshape(batch * width, 1) + log_p).view(batch, width * classes)
        scores, index = candidates.topk(width, dim=1)  # (B, K)
        source = (first_row + torch.div(index, classes, rounding_mode="floor")).view(-1)  # (B * K,)
        token = (index % classes).view(-1)
        tokens = tokens[source]
        tokens[:, t + 1] = token
        finished = finished[source] | (token == decoder.end_token) | (token == decoder.padding_token)
        guard.advance(token, source)
        cache.reorder(source, t + 1)
        if finished.all():
            break
    best = scores.argmax(dim=1)  # (B,)
    return tokens[first_row.squeeze(1) + best], scores.gather(1, best.unsqueeze(1)).squeeze(1)
