"""Decoding a TransformerTextDecoder: cached greedy, cached beam search, and the naive reference.

The naive decoder re-runs the whole prefix through nn.TransformerDecoder at every step (what the
reference did: quadratic in the output length). The cached decoders feed only the newest token:
each layer keeps the keys and values of the tokens already decoded (preallocated, written in
place), and the keys and values of the memory are computed once. The incremental layer math
below uses the nn.TransformerDecoderLayer's own parameters, so it shares its weights with the
teacher-forced path; tests check that cached and naive decoding give the same tokens.

Every decoder returns (tokens, log_probs): tokens (B, max_length) start with <S>; after the first
<E> (or <P>) every token is <P>; log_probs (B,) is the total log-probability of each text, its
<E> included. `min_length` forbids <E>/<P> before position min_length - 1 (benchmarks use it to
force a length).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:
    from text_recognizer.models.transformer_decoder import TransformerTextDecoder


class _Cache:
    """Per-layer keys/values: of the memory (fixed) and of the decoded tokens (filled step by step)."""

    def __init__(self, decoder: TransformerTextDecoder, memory: torch.Tensor, max_length: int) -> None:
        self.max_length = max_length
        self.memory_kv = [_memory_keys_values(layer.multihead_attn, memory) for layer in decoder.layers]
        self.self_kv: torch.Tensor | None = None  # (L, 2, B, h, T, dh), allocated at the first step

    def self_keys_values(self, layer_index: int, qkv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.self_kv is None:  # allocated here to get the dtype autocast gives the projections
            batch, _, heads, head_dim = qkv.shape
            layers = len(self.memory_kv)
            self.self_kv = qkv.new_empty(layers, 2, batch, heads, self.max_length, head_dim)
        return self.self_kv[layer_index, 0], self.self_kv[layer_index, 1]  # (B, h, T, dh) each

    def reorder(self, source: torch.Tensor, length: int) -> None:
        """Beam search: row b now continues row source[b]; only the first `length` positions are kept."""
        if self.self_kv is not None:
            self.self_kv[..., :length, :] = self.self_kv[:, :, source, :, :length, :]


def _memory_keys_values(attention: nn.MultiheadAttention, memory: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, M, d) memory -> cross-attention keys and values, (B, h, M, dh) each."""
    dim, heads = attention.embed_dim, attention.num_heads
    weight, bias = attention.in_proj_weight[dim:], attention.in_proj_bias[dim:]  # rows of K then V
    batch, length = memory.shape[:2]
    kv = F.linear(memory, weight, bias).view(batch, length, 2, heads, dim // heads)  # (B, M, 2, h, dh)
    kv = kv.permute(2, 0, 3, 1, 4).contiguous()  # (2, B, h, M, dh)
    return kv[0], kv[1]


def _attend(attention: nn.MultiheadAttention, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """(B, h, 1, dh) query over (B, h, S, dh) keys/values -> (B, 1, d) after the output projection."""
    dropout = attention.dropout if attention.training else 0.0
    out = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout)  # (B, h, 1, dh)
    out = out.reshape(q.shape[0], 1, attention.embed_dim)  # heads side by side, as nn.MultiheadAttention
    return F.linear(out, attention.out_proj.weight, attention.out_proj.bias)


def _self_attention(layer: nn.TransformerDecoderLayer, x: torch.Tensor, cache: _Cache, index: int, t: int) -> torch.Tensor:
    attention = layer.self_attn
    batch, heads = x.shape[0], attention.num_heads
    qkv = F.linear(x, attention.in_proj_weight, attention.in_proj_bias)  # (B, 1, 3d)
    qkv = qkv.view(batch, 3, heads, attention.embed_dim // heads)  # (B, 3, h, dh)
    keys, values = cache.self_keys_values(index, qkv)
    keys[:, :, t] = qkv[:, 1]
    values[:, :, t] = qkv[:, 2]
    return _attend(attention, qkv[:, 0].unsqueeze(2), keys[:, :, : t + 1], values[:, :, : t + 1])


def _cross_attention(layer: nn.TransformerDecoderLayer, x: torch.Tensor, cache: _Cache, index: int) -> torch.Tensor:
    attention = layer.multihead_attn
    dim, heads = attention.embed_dim, attention.num_heads
    q = F.linear(x, attention.in_proj_weight[:dim], attention.in_proj_bias[:dim])  # (B, 1, d)
    q = q.view(x.shape[0], heads, 1, dim // heads)  # (B, h, 1, dh)
    keys, values = cache.memory_kv[index]
    return _attend(attention, q, keys, values)


def _feed_forward(layer: nn.TransformerDecoderLayer, x: torch.Tensor) -> torch.Tensor:
    return layer.linear2(layer.dropout(layer.activation(layer.linear1(x))))


def _layer_step(layer: nn.TransformerDecoderLayer, x: torch.Tensor, cache: _Cache, index: int, t: int) -> torch.Tensor:
    """One nn.TransformerDecoderLayer applied to the newest token only: (B, 1, d) -> (B, 1, d)."""
    if layer.norm_first:
        x = x + layer.dropout1(_self_attention(layer, layer.norm1(x), cache, index, t))
        x = x + layer.dropout2(_cross_attention(layer, layer.norm2(x), cache, index))
        return x + layer.dropout3(_feed_forward(layer, layer.norm3(x)))
    x = layer.norm1(x + layer.dropout1(_self_attention(layer, x, cache, index, t)))
    x = layer.norm2(x + layer.dropout2(_cross_attention(layer, x, cache, index)))
    return layer.norm3(x + layer.dropout3(_feed_forward(layer, x)))


def _step_logits(decoder: TransformerTextDecoder, cache: _Cache, token: torch.Tensor, t: int) -> torch.Tensor:
    """(B, 1) token at position t -> (B, C) float32 logits for position t + 1."""
    x = decoder.embed(token, offset=t)  # (B, 1, d)
    for index, layer in enumerate(decoder.layers):
        x = _layer_step(layer, x, cache, index, t)
    if decoder.transformer.norm is not None:
        x = decoder.transformer.norm(x)
    return _scores_dtype(decoder.fc(x[:, 0]))


def _scores_dtype(logits: torch.Tensor) -> torch.Tensor:
    """Scores are compared and summed in float32 (float64 models keep float64), whatever autocast gave."""
    return logits if logits.dtype == torch.float64 else logits.float()


def _start(decoder: TransformerTextDecoder, batch: int, max_length: int, device: torch.device) -> torch.Tensor:
    if max_length < 2:
        raise ValueError(f"max_length must leave room for <S> and one token, got {max_length}")
    tokens = torch.full((batch, max_length), decoder.padding_token, dtype=torch.long, device=device)
    tokens[:, 0] = decoder.start_token
    return tokens


def _forbid_stopping(decoder: TransformerTextDecoder, scores: torch.Tensor, position: int, min_length: int) -> None:
    if position < min_length - 1:
        scores[:, [decoder.end_token, decoder.padding_token]] = float("-inf")


def _greedy_choice(decoder, logits, tokens, log_probs, finished, t, min_length) -> None:  # noqa: ANN001
    """Appends the argmax token at position t + 1 (<P> for finished rows), updating log_probs and finished."""
    _forbid_stopping(decoder, logits, t + 1, min_length)
    token = logits.argmax(dim=-1)  # (B,)
    step_log_probs = torch.log_softmax(logits, dim=-1).gather(1, token.unsqueeze(1)).squeeze(1)
    log_probs += step_log_probs.masked_fill(finished, 0.0)
    token.masked_fill_(finished, decoder.padding_token)
    tokens[:, t + 1] = token
    finished |= (token == decoder.end_token) | (token == decoder.padding_token)


@torch.inference_mode()
def greedy_decode(
    decoder: TransformerTextDecoder, memory: torch.Tensor, max_length: int, min_length: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Batched greedy decoding with cached keys and values: one token per step through each layer."""
    batch = memory.shape[0]
    tokens = _start(decoder, batch, max_length, memory.device)
    log_probs = torch.zeros(batch, dtype=_scores_dtype(memory).dtype, device=memory.device)
    finished = torch.zeros(batch, dtype=torch.bool, device=memory.device)
    cache = _Cache(decoder, memory, max_length)
    for t in range(max_length - 1):
        logits = _step_logits(decoder, cache, tokens[:, t : t + 1], t)
        _greedy_choice(decoder, logits, tokens, log_probs, finished, t, min_length)
        if finished.all():
            break
    return tokens, log_probs


@torch.inference_mode()
def naive_greedy_decode(
    decoder: TransformerTextDecoder, memory: torch.Tensor, max_length: int, min_length: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """The reference's decoding (whole prefix re-run at every step), kept to test the cached one against."""
    batch = memory.shape[0]
    tokens = _start(decoder, batch, max_length, memory.device)
    log_probs = torch.zeros(batch, dtype=_scores_dtype(memory).dtype, device=memory.device)
    finished = torch.zeros(batch, dtype=torch.bool, device=memory.device)
    for t in range(max_length - 1):
        logits = _scores_dtype(decoder.sequence_logits(memory, tokens[:, : t + 1])[:, -1])  # (B, C)
        _greedy_choice(decoder, logits, tokens, log_probs, finished, t, min_length)
        if finished.all():
            break
    return tokens, log_probs


@torch.inference_mode()
def beam_search_decode(
    decoder: TransformerTextDecoder, memory: torch.Tensor, max_length: int, beam_width: int, min_length: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Beam search (cached) keeping the `beam_width` most probable prefixes; returns the most probable text.

    Scores are total log-probabilities, without length normalisation, so width 1 is greedy decoding.
    """
    if not 1 <= beam_width <= decoder.num_classes:
        raise ValueError(f"beam_width must be between 1 and {decoder.num_classes}, got {beam_width}")
    batch, width, classes = memory.shape[0], beam_width, decoder.num_classes
    device = memory.device
    memory = memory.repeat_interleave(width, dim=0)  # (B * K, M, d): beams of a text are adjacent rows
    tokens = _start(decoder, batch * width, max_length, device)
    scores = torch.zeros(batch, width, dtype=_scores_dtype(memory).dtype, device=device)
    scores[:, 1:] = float("-inf")  # the K beams start identical: only the first one is expanded
    finished = torch.zeros(batch * width, dtype=torch.bool, device=device)
    only_padding = torch.full((classes,), float("-inf"), dtype=scores.dtype, device=device)
    only_padding[decoder.padding_token] = 0.0  # a finished beam continues with <P> at no cost
    first_row = torch.arange(batch, device=device).unsqueeze(1) * width  # (B, 1)
    cache = _Cache(decoder, memory, max_length)
    for t in range(max_length - 1):
        logits = _step_logits(decoder, cache, tokens[:, t : t + 1], t)  # (B * K, C)
        _forbid_stopping(decoder, logits, t + 1, min_length)
        log_p = torch.log_softmax(logits, dim=-1)
        log_p = torch.where(finished.unsqueeze(1), only_padding, log_p)
        candidates = (scores.reshape(batch * width, 1) + log_p).view(batch, width * classes)
        scores, index = candidates.topk(width, dim=1)  # (B, K)
        source = (first_row + torch.div(index, classes, rounding_mode="floor")).view(-1)  # (B * K,)
        token = (index % classes).view(-1)
        tokens = tokens[source]
        tokens[:, t + 1] = token
        finished = finished[source] | (token == decoder.end_token) | (token == decoder.padding_token)
        cache.reorder(source, t + 1)
        if finished.all():
            break
    best = scores.argmax(dim=1)  # (B,)
    return tokens[first_row.squeeze(1) + best], scores.gather(1, best.unsqueeze(1)).squeeze(1)
