"""The line guard's bound: from the ink's extent, not the padded width; what the models' predict does with it."""
import argparse

import numpy as np
import pytest
import torch

from text_recognizer.line_guard import MIN_CHAR_WIDTH, line_length_limits
from text_recognizer.metadata import iam_paragraphs
from text_recognizer.models.resnet_transformer import ResnetTransformer


def test_the_bound_follows_the_rightmost_ink_of_each_image():
    batch = np.zeros((3, 1, 64, 640), dtype=np.float32)
    batch[0, 0, 10:20, 0:100] = 1.0  # ink up to column 99: 100 columns
    batch[1, 0, 30:40, 300:401] = 0.9  # ink from 300 to 400: the width counts from the left edge
    batch[2, 0] = 0.3  # grey paper and no ink: no character (a blank page reads as empty text)
    assert line_length_limits(batch).tolist() == [int(np.ceil(100 / MIN_CHAR_WIDTH)), int(np.ceil(401 / MIN_CHAR_WIDTH)), 0]
    assert line_length_limits(batch, min_char_width=10).tolist() == [10, 41, 0]


def test_the_bound_needs_a_batch_of_images():
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\)"):
        line_length_limits(np.zeros((64, 640), dtype=np.float32))


def looping_model(**data_config):
    """An untrained ResnetTransformer that never ends a line nor the text (max_length 60), and writes only
    characters (no <B> or <S>, which decode to nothing), so its texts are as long as decoding allows."""
    data_config = {"input_dims": (1, 64, 128), "output_dims": (60, 1), "mapping": iam_paragraphs.MAPPING, **data_config}
    torch.manual_seed(0)
    model = ResnetTransformer(data_config, argparse.Namespace(tf_dim=32, tf_fc_dim=32, tf_layers=1, tf_nhead=2)).eval()
    decoder = model.decoder
    with torch.no_grad():
        blank = iam_paragraphs.MAPPING.index("<B>")
        decoder.fc.bias[[decoder.end_token, decoder.newline_token, decoder.padding_token, decoder.start_token, blank]] = -50.0
    return model


def test_predict_guards_lines_unless_told_not_to():
    model = looping_model()
    decoder = model.decoder
    x = torch.zeros(2, 1, 64, 128)
    x[0, :, 20:40, :30] = 1.0  # 30 columns of ink: at most 6 characters a line
    x[1, :, 20:40, :128] = 1.0  # 128 columns: 26 characters, fewer than max_length allows
    guarded = model.predict(x)
    free = model.predict(x, guard_lines=False)
    kept = [(row != decoder.padding_token).sum().item() - 2 for row in guarded]  # minus <S> and <E>
    assert kept == [6, 26]
    assert (free != decoder.padding_token).sum(dim=1).tolist() == [60, 60]  # runs to max_length


def test_a_model_that_reads_at_half_the_line_pitch_allows_twice_the_characters_per_column():
    """At --line_pitch=24 handwriting is half as wide: the guard's bound per column doubles with it."""
    model = looping_model(line_pitch=24.0)
    decoder = model.decoder
    x = torch.zeros(1, 1, 64, 128)
    x[0, :, 20:40, :30] = 1.0  # 30 columns of ink at 2.5 px a character: 12
    assert (model.predict(x)[0] != decoder.padding_token).sum().item() - 2 == 12
