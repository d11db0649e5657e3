"""Character error rates, as plain functions on strings and as torchmetrics Metrics on token rows.

Two definitions are in use, named so that nobody confuses them:
- ReferenceCER / reference_cer ("val_cer", "test_cer"): the reference's metric, the mean over
  samples of editdistance(pred, target) / max(len(pred), len(target)). Two empty strings count 0
  (the reference divided by zero there). Bounded by 1; its published figures use it.
- CharacterErrorRate / character_error_rate ("val_cer_standard", "test_cer_standard"): the field's
  standard, total edits / total reference characters. Can exceed 1 (many insertions).
Token rows lose their ignored tokens (<S>, <E>, <P>, ...) before the comparison. The Metrics keep
sums as states that add up across DDP processes.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import editdistance
import torch
from torchmetrics import Metric


def _ratio(edits: int, pred_length: int, target_length: int) -> float:
    longest = max(pred_length, target_length)
    return edits / longest if longest else 0.0


def reference_cer(preds: Sequence[str], targets: Sequence[str]) -> float:
    """Mean over pairs of edits / max(len(pred), len(target)); 0 for no pairs.

    >>> reference_cer(["abc", ""], ["abd", ""])  # (1/3 + 0) / 2
    0.16666666666666666
    """
    _check_lengths(preds, targets)
    ratios = [_ratio(editdistance.eval(p, t), len(p), len(t)) for p, t in zip(preds, targets)]
    return sum(ratios) / len(ratios) if ratios else 0.0


def character_error_rate(preds: Sequence[str], targets: Sequence[str]) -> float:
    """Total edits / total target characters (the standard CER); 0 when there is nothing to compare.

    >>> character_error_rate(["abc", "x"], ["abd", ""])  # (1 + 1) / (3 + 0)
    0.6666666666666666
    """
    _check_lengths(preds, targets)
    edits = sum(editdistance.eval(p, t) for p, t in zip(preds, targets))
    characters = sum(len(t) for t in targets)
    return _standard(edits, characters)


def _standard(edits: float, characters: float) -> float:
    # With no reference characters at all, any prediction is all error: report the edits themselves.
    return edits / characters if characters else float(edits)


def _check_lengths(preds: Sequence, targets: Sequence) -> None:
    if len(preds) != len(targets):
        raise ValueError(f"{len(preds)} predictions for {len(targets)} targets")


class _TokenCER(Metric):
    """Base: token rows (B, L) -> lists of kept tokens, compared by edit distance."""

    full_state_update = False
    higher_is_better = False
    is_differentiable = False

    def __init__(self, ignore_tokens: Sequence[int], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ignore_tokens = set(int(t) for t in ignore_tokens)

    def _rows(self, tokens: torch.Tensor) -> list[list[int]]:
        return [[t for t in row if t not in self.ignore_tokens] for row in tokens.tolist()]

    def _pairs(self, preds: torch.Tensor, targets: torch.Tensor) -> list[tuple[list[int], list[int]]]:
        if preds.shape[0] != targets.shape[0]:
            raise ValueError(f"{preds.shape[0]} predictions for {targets.shape[0]} targets")
        return list(zip(self._rows(preds), self._rows(targets)))


class ReferenceCER(_TokenCER):
    """The reference's CER: mean over samples of edits / max(len(pred), len(target)).

    >>> metric = ReferenceCER(ignore_tokens=[1, 2, 3])
    >>> metric.update(torch.tensor([[1, 5, 6, 7, 2], [1, 2, 3, 3, 3]]), torch.tensor([[1, 5, 6, 8, 2], [1, 2, 3, 3, 3]]))
    >>> round(float(metric.compute()), 4)  # (1/3 + 0) / 2: two empty texts count as correct
    0.1667
    """

    error_sum: torch.Tensor
    count: torch.Tensor

    def __init__(self, ignore_tokens: Sequence[int], **kwargs: Any) -> None:
        super().__init__(ignore_tokens, **kwargs)
        self.add_state("error_sum", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, preds: torch.Tensor, targets: torch.Tensor) -> None:
        pairs = self._pairs(preds, targets)
        self.error_sum += sum(_ratio(editdistance.eval(p, t), len(p), len(t)) for p, t in pairs)
        self.count += len(pairs)

    def compute(self) -> torch.Tensor:
        return (self.error_sum / self.count.clamp(min=1)).float()


class CharacterErrorRate(_TokenCER):
    """The standard CER: total edits / total target characters, over everything seen.

    >>> metric = CharacterErrorRate(ignore_tokens=[1, 2, 3])
    >>> metric.update(torch.tensor([[1, 5, 6, 7, 2], [1, 9, 2, 3, 3]]), torch.tensor([[1, 5, 6, 8, 2], [1, 2, 3, 3, 3]]))
    >>> round(float(metric.compute()), 4)  # (1 + 1) / (3 + 0)
    0.6667
    """

    edits: torch.Tensor
    characters: torch.Tensor

    def __init__(self, ignore_tokens: Sequence[int], **kwargs: Any) -> None:
        super().__init__(ignore_tokens, **kwargs)
        self.add_state("edits", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("characters", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, preds: torch.Tensor, targets: torch.Tensor) -> None:
        pairs = self._pairs(preds, targets)
        self.edits += sum(editdistance.eval(p, t) for p, t in pairs)
        self.characters += sum(len(t) for _, t in pairs)

    def compute(self) -> torch.Tensor:
        return torch.tensor(_standard(int(self.edits), int(self.characters)), dtype=torch.float32, device=self.edits.device)
