"""A page reads the same alone and in any batch (issue 34): padding a batch to its largest line or page must
not change what a page reads, on both backends and by every decoding.

A small random model is the sharpest witness: nothing it reads is sure, so the least change in what it sees
(padding in its memory, in its CTC frames, at the edge of its convolutions) changes its tokens.
"""
import numpy as np
import pytest
from model_fixtures import save_tiny_paragraph_model
from PIL import Image

from text_recognizer.paragraph_text_recognizer import ParagraphTextRecognizer
from text_recognizer.stems.paragraph_core import (
    LINE_DECODING_ATTENTION,
    LINE_DECODING_CTC,
    LINE_DECODING_JOINT,
    READ_BY_LINES,
    READ_BY_PAGE,
    TARGET_LINE_PITCH,
)

ARGS = {"tf_dim": 32, "tf_fc_dim": 32, "tf_layers": 2, "tf_nhead": 2, "horizontal_stride": 8}
OUTPUT_LENGTH = 20
CONFIDENCE_TOLERANCE = 1e-4  # the issue's: float noise only


def save_random_line_model(path):
    """A random ResnetTransformer at /8 with a random line CTC head, trained (so to say) on lines."""
    return save_tiny_paragraph_model(path, OUTPUT_LENGTH, read_by=READ_BY_LINES, ctc_head=True, seed=0, half=False,
                                     **ARGS)


def page(widths, seed, thickness=1.0):
    """Dark scribbles on light paper, one line of the given width (pixels) per line, at the recognizer's pitch."""
    rng = np.random.default_rng(seed)
    pitch = round(TARGET_LINE_PITCH)
    array = np.full((pitch * (len(widths) + 1), max(widths) + 80), 235, dtype=np.uint8)
    for line, width in enumerate(widths):
        top = pitch // 2 + line * pitch
        for left in range(30, 30 + width - 8, 9):  # a "letter" every 9 px, of random height
            height = int(rng.integers(8, round(20 * thickness)))
            array[top + 20 - height : top + 20, left : left + 5] = 20
    return Image.fromarray(array)


# `a`: short lines; `b`, `c`: longer and taller ones, so that a batch pads a's lines on both sides.
PAGES = {"a": ([120, 200, 90], 1, 1.0), "b": ([420, 380, 300, 410], 2, 1.8), "c": ([300], 3, 1.0)}


@pytest.fixture(scope="module")
def pages():
    return {name: page(*spec) for name, spec in PAGES.items()}


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return save_random_line_model(tmp_path_factory.mktemp("random_line_model") / "model.pt")


def assert_reads_alike_alone_and_batched(recognizer, pages):
    alone = recognizer.predict_batch([pages["a"]])[0]
    for batch in (["b", "a", "c"], ["a", "b"]):
        batched = recognizer.predict_batch([pages[name] for name in batch])[batch.index("a")]
        assert batched.text == alone.text, batch
        assert batched.confidence == pytest.approx(alone.confidence, abs=CONFIDENCE_TOLERANCE), batch
    return alone


@pytest.mark.parametrize("decoding", [LINE_DECODING_JOINT, LINE_DECODING_CTC, LINE_DECODING_ATTENTION])
def test_a_page_reads_the_same_alone_and_in_any_batch_on_torch(model_path, pages, decoding):
    assert_reads_alike_alone_and_batched(ParagraphTextRecognizer(model_path, line_decoding=decoding), pages)


@pytest.mark.parametrize("settings", [{"beam_width": 3}, {"read_by": READ_BY_PAGE}], ids=["beam", "page"])
def test_beam_search_and_pages_read_whole_are_batch_independent_too(model_path, pages, settings):
    assert_reads_alike_alone_and_batched(ParagraphTextRecognizer(model_path, **settings), pages)


@pytest.mark.slow  # the export takes 15-30 s
def test_a_page_reads_the_same_alone_and_in_any_batch_on_onnx(model_path, pages):
    from text_recognizer.training.export_model import export

    export(model_path)
    for decoding in (LINE_DECODING_JOINT, LINE_DECODING_CTC, LINE_DECODING_ATTENTION):
        onnx = assert_reads_alike_alone_and_batched(
            ParagraphTextRecognizer(model_path, backend="onnx", line_decoding=decoding), pages)
        torch_alone = ParagraphTextRecognizer(model_path, line_decoding=decoding).predict_batch([pages["a"]])[0]
        assert onnx.text == torch_alone.text, decoding
        assert onnx.confidence == pytest.approx(torch_alone.confidence, abs=1e-3), decoding
