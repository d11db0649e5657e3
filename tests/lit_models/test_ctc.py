"""CTCLitModel: CTC loss with <B> as blank on the characters only, greedy decoding, CER."""
import argparse
import warnings

import pytest
import torch
import torch.nn.functional as F

from text_recognizer.lit_models.ctc import CTCLitModel
from text_recognizer.metadata.shared import MAPPING
from text_recognizer.models.line_cnn_simple import LineCNNSimple
from text_recognizer.vocabulary import convert_strings_to_labels

PAD = MAPPING.index("<P>")
CONFIG = {"input_dims": (1, 28, 28 * 8), "output_dims": (8, 1), "mapping": MAPPING}


def _lit_model(**flags) -> CTCLitModel:
    torch.manual_seed(0)
    args = argparse.Namespace(conv_dim=8, fc_dim=32, fc_dropout=0.0, window_width=28, window_stride=14, lr=3e-3, **flags)
    return CTCLitModel(LineCNNSimple(CONFIG, args), args)


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(4, 1, 28, 28 * 8, generator=generator)
    y = convert_strings_to_labels(["ab", "hello", "aab", "z"], MAPPING, 8)
    return x, y


def test_blank_is_the_b_token_and_decoding_uses_it():
    lit = _lit_model()
    assert lit.loss_fn.blank == MAPPING.index("<B>") == 0
    a, b = MAPPING.index("a"), MAPPING.index("b")
    path = torch.tensor([[a, a, 0, a, b, b, 0]])
    logits = F.one_hot(path, len(MAPPING)).permute(0, 2, 1).float()
    assert lit.greedy_decode(logits, max_length=5).tolist() == [[a, a, b, PAD, PAD]]


def test_ctc_loss_decreases_on_a_tiny_batch():
    lit = _lit_model()
    x, y = _batch()
    optimizer = torch.optim.Adam(lit.parameters(), lr=3e-3)
    losses = []
    for _ in range(20):
        loss = lit.ctc_loss(lit(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < 0.5 * losses[0], losses


def test_the_loss_ignores_start_end_and_padding_tokens():
    lit = _lit_model()
    x, y = _batch()
    logits = lit(x)
    longer_padding = torch.cat([y, torch.full((4, 5), PAD)], dim=1)
    assert torch.allclose(lit.ctc_loss(logits, y), lit.ctc_loss(logits, longer_padding))


def test_a_label_longer_than_the_output_sequence_is_a_clear_error():
    lit = _lit_model()
    x, _ = _batch()
    y = convert_strings_to_labels(["abcdefghijklmnopqrstu"], MAPPING, 23)  # 21 characters, 15 positions
    with pytest.raises(ValueError, match="window_stride"):
        lit.ctc_loss(lit(x[:1]), y)


def test_validation_reports_both_character_error_rates():
    lit = _lit_model()
    x, y = _batch()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # self.log outside a Trainer
        lit.validation_step((x, y), 0)
    reference, standard = lit.val_cer.compute(), lit.val_cer_standard.compute()
    assert 0 <= reference <= 1 and standard >= 0
