"""Small tensor helpers of the Lightning modules: CTC targets and greedy CTC decoding."""
from __future__ import annotations

import torch


def ctc_targets(y: torch.Tensor, skip_tokens: list[int], stop_tokens: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, L) label rows -> the characters of each row, for nn.CTCLoss: (B, L) left-aligned, and lengths (B,).

    A row's characters are its tokens up to the first stop token (<E>, <P>) without the skipped
    ones (<S>): CTC aligns the characters, the start and end markers are not in the image.

    >>> targets, lengths = ctc_targets(torch.tensor([[1, 7, 8, 2, 3], [1, 9, 2, 3, 3]]), [1], [2, 3])
    >>> targets.tolist(), lengths.tolist()
    ([[7, 8, 3, 3, 3], [9, 3, 3, 3, 3]], [2, 1])
    """
    stop = torch.isin(y, torch.tensor(stop_tokens, device=y.device))
    after_stop = stop.int().cumsum(dim=1) > 0
    keep = ~after_stop & ~torch.isin(y, torch.tensor(skip_tokens, device=y.device))
    return _left_align(y, keep, fill=stop_tokens[-1]), keep.sum(dim=1)


def ctc_greedy_decode(logits: torch.Tensor, blank: int, max_length: int, padding: int) -> torch.Tensor:
    """Best path decoding: (B, C, S) scores -> (B, max_length) tokens, repeats merged, blanks dropped, then padding.

    A blank between two equal tokens keeps both ("a<B>a" is "aa"); the result is cut at max_length.

    >>> scores = torch.nn.functional.one_hot(torch.tensor([[5, 5, 0, 5, 6, 6, 0, 0]]), 8).permute(0, 2, 1)
    >>> ctc_greedy_decode(scores, blank=0, max_length=5, padding=3).tolist()
    [[5, 5, 6, 3, 3]]
    """
    best = logits.argmax(dim=1)  # (B, S)
    previous = torch.cat([torch.full_like(best[:, :1], -1), best[:, :-1]], dim=1)
    keep = (best != blank) & (best != previous)
    decoded = _left_align(best, keep, fill=padding)  # (B, S)
    if decoded.shape[1] >= max_length:
        return decoded[:, :max_length]
    pad = torch.full((best.shape[0], max_length - decoded.shape[1]), padding, dtype=decoded.dtype, device=decoded.device)
    return torch.cat([decoded, pad], dim=1)


def _left_align(values: torch.Tensor, keep: torch.Tensor, fill: int) -> torch.Tensor:
    """The kept entries of each row moved to its start, in order; the rest filled with `fill`."""
    positions = keep.long().cumsum(dim=1) - 1  # where each kept entry goes
    out = torch.full_like(values, fill)
    rows = torch.arange(values.shape[0], device=values.device).unsqueeze(1).expand_as(values)
    out[rows[keep], positions[keep]] = values[keep]
    return out
