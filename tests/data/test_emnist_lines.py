"""EMNISTLines and EMNISTLines2: synthetic lines of EMNIST characters, built from the tiny made-up archive."""
import argparse
import doctest

import numpy as np
import pytest
import torch
from emnist_fixtures import _emnist_cache_dir, emnist_paths, tiny_emnist_archive  # noqa: F401

from text_recognizer.data import emnist_lines
from text_recognizer.data.emnist_lines import EMNISTLines, construct_image_from_string
from text_recognizer.data.emnist_lines2 import EMNISTLines2
from text_recognizer.metadata import shared
from text_recognizer.vocabulary import convert_labels_to_strings

SMALL = {"num_train": 12, "num_val": 4, "num_test": 4, "batch_size": 4}


def _module(cls, **flags):
    data = cls(argparse.Namespace(**{**SMALL, **flags}))
    data.prepare_data()
    data.setup()
    return data


def test_doctests_pass():
    assert doctest.testmod(emnist_lines).failed == 0


def test_characters_follow_each_other_with_the_drawn_overlap():
    bar = np.zeros((28, 28), dtype=np.uint8)
    bar[:, 0] = 100  # each character is a bar in its first column: the bars mark where characters start
    samples = {"a": [bar], "b": [bar]}
    rng = np.random.default_rng(0)
    line = construct_image_from_string("ab a", samples, overlap=0.25, width=200, x_start=5, rng=rng)
    step = 28 - int(0.25 * 28)  # 21
    assert line.shape == (28, 200) and line.dtype == np.uint8
    assert np.flatnonzero(line[0]).tolist() == [5, 5 + step, 5 + 3 * step]  # the space is an empty cell


def test_overlapping_ink_saturates_instead_of_wrapping_around():
    ink = np.full((28, 28), 200, dtype=np.uint8)
    line = construct_image_from_string("aa", {"a": [ink]}, overlap=0.5, width=56, x_start=0, rng=np.random.default_rng(0))
    assert line[0, 14:28].tolist() == [255] * 14  # 200 + 200 -> 255, not 144
    assert line[0, :14].tolist() == [200] * 14


def test_emnist_lines_shapes_labels_and_cache(emnist_paths):  # noqa: F811
    data = _module(EMNISTLines)
    assert data.config()["input_dims"] == (1, 28, 28 * 32) and data.config()["output_dims"] == (32, 1)
    assert len(data.mapping) == 83
    assert (len(data.data_train), len(data.data_val), len(data.data_test)) == (12, 4, 4)
    x, y = next(iter(data.train_dataloader()))
    assert x.shape == (4, 1, 28, 896) and x.dtype == torch.float32 and y.shape == (4, 32) and y.dtype == torch.int64
    assert not (y == shared.MAPPING.index("<S>")).any()  # chars then <P>: one label per 28-pixel cell
    texts = convert_labels_to_strings(data.data_test.targets, data.mapping)
    for text, image in zip(texts, data.data_test.data):
        assert 0 < len(text) <= 30 and text == " ".join(text.split())
        assert set(text) <= set(shared.MAPPING[4:66]) | {" "}  # only characters that EMNIST has images of
        inked = np.flatnonzero(image.max(axis=0))
        assert inked.max() < 28 * len(text)  # the ink stays within the text's cells
    assert data.data_filename.exists() and not list(data.data_filename.parent.glob("*.part"))


def test_lines_are_reproducible(emnist_paths):  # noqa: F811
    data = EMNISTLines(argparse.Namespace(**SMALL))
    data.emnist.prepare_data()
    data.emnist.setup()
    samples = emnist_lines.samples_by_char(data.emnist.x_test, data.emnist.y_test, data.mapping)
    first, second = data.generate_lines(3, samples, seed=7), data.generate_lines(3, samples, seed=7)
    assert np.array_equal(first[0], second[0]) and torch.equal(first[1], second[1])


def test_overlap_settings_are_checked():
    with pytest.raises(ValueError, match="min_overlap"):
        EMNISTLines(argparse.Namespace(min_overlap=0.5, max_overlap=0.2))
    with pytest.raises(ValueError, match="canvas"):
        EMNISTLines2(argparse.Namespace(max_length=80, min_overlap=0.0))


def test_emnist_lines2_is_shaped_like_iam_lines(emnist_paths):  # noqa: F811
    data = _module(EMNISTLines2)
    assert data.config()["input_dims"] == (1, 56, 1024) and data.config()["output_dims"] == (89, 1)
    raw = data.data_test.data  # (N, 56, 1024) uint8
    assert raw.shape == (4, 56, 1024)
    assert raw[:, :14].max() == 0 and raw[:, 42:].max() == 0  # 28-pixel characters centred vertically
    assert raw[:, :, :28].max() == 0 and raw.max() > 0  # the text starts one cell from the left
    texts = convert_labels_to_strings(data.data_test.targets, data.mapping)
    assert all(0 < len(text) <= 41 for text in texts)
    # Training lines are augmented, validation and test lines are not.
    x_val, _ = data.data_val[0]
    assert torch.equal(x_val, torch.from_numpy(data.data_val.data[0]).float().div(255).unsqueeze(0))
    torch.manual_seed(0)
    x_train, _ = data.data_train[0]
    assert x_train.shape == (1, 56, 1024)
    assert not torch.equal(x_train, torch.from_numpy(data.data_train.data[0]).float().div(255).unsqueeze(0))


def test_augmentation_can_be_switched_off(emnist_paths):  # noqa: F811
    data = _module(EMNISTLines2, augment_data=False)
    x, _ = data.data_train[0]
    assert torch.equal(x, torch.from_numpy(data.data_train.data[0]).float().div(255).unsqueeze(0))


def test_each_line_draws_its_overlap_between_the_bounds(emnist_paths, monkeypatch):  # noqa: F811
    overlaps = []
    original = emnist_lines.construct_image_from_string

    def spy(text, samples, overlap, *args, **kwargs):
        overlaps.append(overlap)
        return original(text, samples, overlap, *args, **kwargs)

    monkeypatch.setattr(emnist_lines, "construct_image_from_string", spy)
    data = EMNISTLines(argparse.Namespace(**SMALL, min_overlap=0.1, max_overlap=0.3))
    data.emnist.prepare_data()
    data.emnist.setup()
    samples = emnist_lines.samples_by_char(data.emnist.x_test, data.emnist.y_test, data.mapping)
    data.generate_lines(50, samples, seed=1)
    assert len(overlaps) == 50 and all(0.1 <= o < 0.3 for o in overlaps) and np.std(overlaps) > 0.03


def test_start_and_end_tokens_on_request(emnist_paths):  # noqa: F811
    plain = _module(EMNISTLines)
    marked = _module(EMNISTLines, with_start_end_tokens=True)
    start, end = shared.MAPPING.index("<S>"), shared.MAPPING.index("<E>")
    y_plain, y_marked = plain.data_test.targets, marked.data_test.targets
    assert y_marked.shape == y_plain.shape == (4, 32) and (y_marked[:, 0] == start).all()
    assert (y_marked == end).sum(dim=1).tolist() == [1, 1, 1, 1]
    assert convert_labels_to_strings(y_plain, plain.mapping) == convert_labels_to_strings(y_marked, marked.mapping)
    assert (_module(EMNISTLines2).data_test.targets[:, 0] == start).all()  # EMNISTLines2 always has them
