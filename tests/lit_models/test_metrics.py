"""The two character error rates, on hand-checked examples (empty strings included)."""
import doctest

import pytest
import torch

from text_recognizer.lit_models import metrics
from text_recognizer.lit_models.metrics import (
    CharacterErrorRate,
    ReferenceCER,
    character_error_rate,
    reference_cer,
)

S, E, P = 1, 2, 3  # <S>, <E>, <P>
IGNORE = [S, E, P]


def rows(*token_lists, length=8):
    """Label rows: <S> tokens <E>, padded with <P>."""
    return torch.tensor([[S, *tokens, E] + [P] * (length - len(tokens) - 2) for tokens in token_lists])


def test_doctests_pass():
    assert doctest.testmod(metrics).failed == 0


@pytest.mark.parametrize(
    ("pred", "target", "reference", "standard"),
    [
        ("abc", "abc", 0.0, 0.0),
        ("abd", "abc", 1 / 3, 1 / 3),  # one substitution
        ("ab", "abc", 1 / 3, 1 / 3),  # one deletion
        ("abcd", "abc", 1 / 4, 1 / 3),  # one insertion: the reference divides by the longer string
        ("", "abc", 1.0, 1.0),
        ("xyz", "", 1.0, 3.0),  # standard CER with no reference characters: the edit count itself
        ("", "", 0.0, 0.0),  # the reference divided by zero here
        ("kitten", "sitting", 3 / 7, 3 / 7),
    ],
)
def test_single_pairs(pred, target, reference, standard):
    assert reference_cer([pred], [target]) == pytest.approx(reference)
    assert character_error_rate([pred], [target]) == pytest.approx(standard)


def test_the_reference_averages_ratios_the_standard_pools_characters():
    preds, targets = ["a", "abcdefghij"], ["b", "abcdefghij"]
    assert reference_cer(preds, targets) == pytest.approx((1 + 0) / 2)
    assert character_error_rate(preds, targets) == pytest.approx(1 / 11)
    with pytest.raises(ValueError, match="2 predictions for 1 targets"):
        reference_cer(preds, targets[:1])


def test_metrics_ignore_start_end_and_padding_tokens_and_accumulate():
    reference, standard = ReferenceCER(IGNORE), CharacterErrorRate(IGNORE)
    preds = rows([5, 6, 7], [], [9, 9])
    targets = rows([5, 6, 8], [], [])
    for metric in (reference, standard):
        metric.update(preds, targets)
    # pair ratios: 1/3, 0 (both empty), 1 (2 insertions over max(2, 0)); standard: (1 + 0 + 2) / (3 + 0 + 0)
    assert reference.compute().item() == pytest.approx((1 / 3 + 0 + 1) / 3)
    assert standard.compute().item() == pytest.approx(3 / 3)
    for metric in (reference, standard):
        metric.update(rows([4, 4, 4, 4]), rows([4, 4, 4, 4]))
    assert reference.compute().item() == pytest.approx((1 / 3 + 0 + 1 + 0) / 4)
    assert standard.compute().item() == pytest.approx(3 / 7)


def test_predictions_and_targets_may_have_different_lengths():
    metric = ReferenceCER(IGNORE)
    metric.update(rows([5, 6], length=4), rows([5, 6], length=10))
    assert metric.compute().item() == 0.0


@pytest.mark.parametrize("metric_class", [ReferenceCER, CharacterErrorRate])
def test_states_add_up_across_processes(metric_class):
    """What DDP does: each process keeps sums, which are added before compute."""
    preds, targets = rows([5, 6, 7], [8], [9, 9]), rows([5, 6, 8], [], [9])
    whole, first, second = metric_class(IGNORE), metric_class(IGNORE), metric_class(IGNORE)
    whole.update(preds, targets)
    first.update(preds[:1], targets[:1])
    second.update(preds[1:], targets[1:])
    assert all(reduction == "sum" or callable(reduction) for reduction in whole._reductions.values())
    first.merge_state(second)
    assert first.compute().item() == pytest.approx(whole.compute().item())


@pytest.mark.filterwarnings("ignore:The ..compute.. method")
def test_no_samples_give_zero():
    assert ReferenceCER(IGNORE).compute().item() == 0.0 and CharacterErrorRate(IGNORE).compute().item() == 0.0
