"""Joint CTC-attention reading of lines (numpy only, shared by the torch and ONNX backends).

A line model with a CTC head reads each line twice: the CTC head's best path and the attention
decoder's greedy text. Each candidate is scored by both models, the CTC score being the probability of
the text summed over all its alignments (the forward algorithm), the attention score the decoder's
teacher-forced probability; the line keeps the candidate whose `JOINT_CTC_WEIGHT`-weighted sum of the
two is higher (hybrid CTC/attention rescoring, Watanabe et al. 2017). The two readers fail differently:
CTC has no language context, attention drifts or repeats on a hand it has not seen; each vetoes the
other's mistakes.
"""
from __future__ import annotations

import numpy as np

# The CTC score's weight. On 60 validation pages of the offline source with stage 1 of the shipped line model
# (standard CER: CTC alone 0.051, attention alone 0.158), 0.1 gave 0.044, 0.2-0.5 0.042-0.043, 0.7 0.046.
JOINT_CTC_WEIGHT = 0.3


def ctc_log_likelihoods(log_probs: np.ndarray, labels: list[list[int]], blank: int) -> np.ndarray:
    """(B, T, C) per-frame log-probabilities and B label sequences -> (B,) log P(labels | frames), summed
    over every CTC alignment (-inf where a text cannot fit the frames)."""
    batch, frames, _ = log_probs.shape
    # At least 3 states, so that the first frame's two entries and the skip exist when every text is empty
    # (a blank page's lines): the states past a row's own length are masked out as always.
    states = max(2 * max((len(label) for label in labels), default=0) + 1, 3)
    extended = np.full((batch, states), blank, dtype=np.int64)  # blank, l1, blank, l2, ..., blank
    lengths = np.array([2 * len(label) + 1 for label in labels])
    for row, label in enumerate(labels):
        extended[row, 1 : 2 * len(label) : 2] = label
    # A state may skip the blank before it when it is a character unlike the one two states back.
    skip = np.zeros((batch, states), dtype=bool)
    skip[:, 2:] = (extended[:, 2:] != blank) & (extended[:, 2:] != extended[:, :-2])
    valid = np.arange(states)[None, :] < lengths[:, None]
    emissions = np.take_along_axis(log_probs.astype(np.float64), np.broadcast_to(extended[:, None, :], (batch, frames, states)), axis=2)
    alpha = np.full((batch, states), -np.inf)
    alpha[:, 0] = emissions[:, 0, 0]
    alpha[:, 1] = np.where(lengths > 1, emissions[:, 0, 1], -np.inf)
    for t in range(1, frames):
        stay = alpha
        advance = np.concatenate((np.full((batch, 1), -np.inf), alpha[:, :-1]), axis=1)
        jump = np.where(skip, np.concatenate((np.full((batch, 2), -np.inf), alpha[:, :-2]), axis=1), -np.inf)
        with np.errstate(invalid="ignore"):  # -inf - -inf inside logaddexp of unreachable states
            alpha = np.logaddexp(np.logaddexp(stay, advance), jump) + emissions[:, t]
        alpha[~valid] = -np.inf
    rows = np.arange(batch)
    last_blank = alpha[rows, lengths - 1]
    last_label = np.where(lengths > 1, alpha[rows, np.maximum(lengths - 2, 0)], -np.inf)
    with np.errstate(invalid="ignore"):
        return np.logaddexp(last_blank, last_label)


def joint_choice(
    candidates: list[np.ndarray], ctc_scores: list[np.ndarray], attention_scores: list[np.ndarray],
    ctc_weight: float = JOINT_CTC_WEIGHT,
) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the candidate (each (B, L) tokens) with the highest weighted score, and that score."""
    scores = np.stack([ctc_weight * np.asarray(ctc) + (1 - ctc_weight) * np.asarray(attention)
                       for ctc, attention in zip(ctc_scores, attention_scores)])  # (K, B)
    best = scores.argmax(axis=0)
    rows = np.arange(best.size)
    return np.stack(candidates)[best, rows], scores[best, rows]
