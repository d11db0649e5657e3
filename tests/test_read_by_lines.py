"""Models trained on single lines read pages one line at a time: the recognizer (both backends), the data
config's read_by, and checkpoints written before that key existed."""
import json

import numpy as np
import pytest
from PIL import Image
from test_line_guard import looping_model

from text_recognizer.data.batching import Curriculum
from text_recognizer.line_guard import MIN_CHAR_WIDTH
from text_recognizer.metadata import iam_paragraphs as metadata
from text_recognizer.model_file import as_model_file, save_model_file
from text_recognizer.paragraph_text_recognizer import NO_TEXT_FOUND, ParagraphTextRecognizer
from text_recognizer.stems.paragraph_core import (
    CORE_TO_PITCH,
    LINE_DECODING_ATTENTION,
    LINE_DECODING_CTC,
    LINE_DECODING_JOINT,
    LINE_MARGIN_PITCHES,
    READ_BY_LINES,
    READ_BY_PAGE,
    TARGET_LINE_PITCH,
)

LOOPING_ARGS = {"tf_dim": 32, "tf_fc_dim": 32, "tf_layers": 1, "tf_nhead": 2}
WIDTHS = [100, 200, 50]
BAR = round(TARGET_LINE_PITCH / CORE_TO_PITCH)  # a bar as tall as a line's core: pages of one or two measure the target pitch


def page_of_bars(widths=WIDTHS) -> Image.Image:
    """Dark bars on light paper, one per line, at the pitch the recognizer reads at."""
    pitch = round(TARGET_LINE_PITCH)
    array = np.full((pitch * (len(widths) + 1), max(widths) + 60), 235, dtype=np.uint8)
    for line, width in enumerate(widths):
        top = pitch // 2 + line * pitch
        array[top : top + BAR, 30 : 30 + width] = 20
    return Image.fromarray(array)


def save_looping_model(path, **data_config):
    model = looping_model(input_dims=metadata.DIMS, **data_config)
    config = {**model.data_config, "input_dims": list(metadata.DIMS), "output_dims": [60, 1]}
    save_model_file({"model_class": "ResnetTransformer", "data_config": config, "model_config": LOOPING_ARGS,
                     "state_dict": model.state_dict()}, path, half=False)
    return path


@pytest.fixture(scope="module")
def line_model(tmp_path_factory):
    return save_looping_model(tmp_path_factory.mktemp("line_model") / "model.pt", read_by=READ_BY_LINES)


def expected_lengths(widths=WIDTHS):
    """What the guard lets a looping model write on each line: the columns up to the ink's end over 5
    (a line's box has the margin on its left)."""
    margin = round(LINE_MARGIN_PITCHES * TARGET_LINE_PITCH)
    return [int(np.ceil((margin + width) / MIN_CHAR_WIDTH)) for width in widths]


def test_a_line_model_reads_each_line_and_joins_them_with_newlines(line_model):
    recognizer = ParagraphTextRecognizer(line_model)
    assert recognizer.read_by == READ_BY_LINES
    lines = recognizer.preprocess(page_of_bars())
    margin = round(LINE_MARGIN_PITCHES * TARGET_LINE_PITCH)
    assert [tuple(line.shape) for line in lines] == [(1, BAR + 2 * margin, width + 2 * margin) for width in WIDTHS]
    prediction = recognizer.predict_batch([page_of_bars()])[0]
    # the looping model never ends a line itself: the guard ends each at its ink's length
    assert [len(text) for text in prediction.text.split("\n")] == expected_lengths()
    assert 0 < prediction.confidence <= 1


def test_the_lines_of_a_batch_of_pages_are_read_together_and_given_back_per_page(line_model):
    recognizer = ParagraphTextRecognizer(line_model)
    widths = [WIDTHS, [148], [148, 118], [60, 70, 80, 90]]  # one or two lines: rescaled by 48 / 47.6
    batch = recognizer.predict_batch([page_of_bars(page) for page in widths], batch_size=3)
    # every page keeps its own lines, in order, each as long as the guard allows
    assert [[len(text) for text in p.text.split("\n")] for p in batch] == [expected_lengths(page) for page in widths]
    assert all(0 < p.confidence <= 1 for p in batch)


def test_read_by_overrides_the_models_setting_and_is_checked(line_model, tmp_path):
    as_page = ParagraphTextRecognizer(line_model, read_by=READ_BY_PAGE)
    assert tuple(as_page.preprocess(page_of_bars()).shape)[0] == 1  # one image, not a list of lines
    assert "\n" not in as_page.predict(page_of_bars())  # the looping model never writes a newline itself
    page_model = save_looping_model(tmp_path / "page.pt")
    assert ParagraphTextRecognizer(page_model).read_by == READ_BY_PAGE  # what models without the key always did
    assert ParagraphTextRecognizer(page_model, read_by=READ_BY_LINES).predict(page_of_bars()).count("\n") == 2
    with pytest.raises(ValueError, match="read_by must be one of"):
        ParagraphTextRecognizer(line_model, read_by="words")


def test_a_blank_page_has_no_lines_and_says_no_text_was_found(line_model):
    recognizer = ParagraphTextRecognizer(line_model)
    blank = Image.new("L", (300, 200), 235)
    assert recognizer.preprocess(blank) == []
    # read beside a written page, which still reads as alone
    predictions = recognizer.predict_batch([blank, page_of_bars(), np.zeros((200, 300), np.uint8)])
    assert [(p.text, p.warnings) for p in predictions[::2]] == [("", [NO_TEXT_FOUND])] * 2
    assert predictions[1].text == recognizer.predict(page_of_bars()) and predictions[1].warnings == []


@pytest.mark.slow
def test_the_onnx_backend_reads_by_lines_as_the_torch_one(line_model):
    from text_recognizer.training.export_model import export

    export(line_model)
    onnx = ParagraphTextRecognizer(line_model, backend="onnx")
    assert onnx.read_by == READ_BY_LINES
    pages = [page_of_bars(), page_of_bars([150])]
    expected = ParagraphTextRecognizer(line_model).predict_batch(pages)
    got = onnx.predict_batch(pages)
    assert [p.text for p in got] == [p.text for p in expected]
    assert [p.confidence for p in got] == pytest.approx([p.confidence for p in expected], abs=1e-3)


def save_ctc_line_model(path, letter="a"):
    """A line model (/8) whose CTC head writes `letter` on every frame: a line reads as that one letter,
    repeats collapsing; its attention decoder loops as the looping model's does."""
    import argparse

    import torch

    from text_recognizer.models import ResnetTransformer

    args = {**LOOPING_ARGS, "horizontal_stride": 8}
    config = {"input_dims": metadata.DIMS, "output_dims": (60, 1), "mapping": metadata.MAPPING, "read_by": READ_BY_LINES}
    torch.manual_seed(0)
    model = ResnetTransformer(config, argparse.Namespace(**args))
    head = model.add_ctc_head(frames_per_column=2)
    with torch.no_grad():
        blank = metadata.MAPPING.index("<B>")
        model.decoder.fc.bias[[model.decoder.end_token, model.decoder.newline_token, model.decoder.padding_token,
                               model.decoder.start_token, blank]] = -50.0
        head.weight.zero_()
        head.bias.fill_(-10.0)
        head.bias.view(2, -1)[:, metadata.MAPPING.index(letter)] = 10.0  # both frames of every column
    save_model_file({"model_class": "ResnetTransformer", "data_config": {**config, "input_dims": list(metadata.DIMS)},
                     "model_config": args, "state_dict": model.state_dict()}, path, half=False)
    return path


def test_a_line_model_with_a_ctc_head_decodes_its_lines_jointly_unless_told(tmp_path):
    path = save_ctc_line_model(tmp_path / "ctc.pt")
    assert ParagraphTextRecognizer(path).line_decoding == LINE_DECODING_JOINT  # tests/test_joint_decoding.py
    assert ParagraphTextRecognizer(path, beam_width=4).line_decoding == LINE_DECODING_ATTENTION  # beam search: the decoder's
    recognizer = ParagraphTextRecognizer(path, line_decoding=LINE_DECODING_CTC)
    prediction = recognizer.predict_batch([page_of_bars()])[0]
    assert prediction.text == "a\na\na" and prediction.confidence == pytest.approx(1.0, abs=1e-3)
    by_attention = ParagraphTextRecognizer(path, line_decoding=LINE_DECODING_ATTENTION).predict(page_of_bars())
    assert [len(text) for text in by_attention.split("\n")] == expected_lengths()  # the looping decoder, guarded
    as_page = ParagraphTextRecognizer(path, read_by=READ_BY_PAGE)  # a page has no left-to-right order for CTC
    assert "\n" not in as_page.predict(page_of_bars())
    with pytest.raises(ValueError, match="reads greedily"):
        ParagraphTextRecognizer(path, beam_width=4, line_decoding=LINE_DECODING_CTC)
    with pytest.raises(ValueError, match="line_decoding must be one of"):
        ParagraphTextRecognizer(path, line_decoding="beam")


def test_a_model_without_a_ctc_head_is_read_by_attention_and_refuses_ctc(line_model):
    assert ParagraphTextRecognizer(line_model).line_decoding == LINE_DECODING_ATTENTION
    with pytest.raises(ValueError, match="has no line CTC head"):
        ParagraphTextRecognizer(line_model, line_decoding=LINE_DECODING_CTC)


@pytest.mark.slow
def test_the_onnx_backend_decodes_lines_by_the_exported_ctc_head_as_torch_does(tmp_path):
    from text_recognizer.training.export_model import export

    path = save_ctc_line_model(tmp_path / "ctc.pt", letter="e")
    json_path = export(path)
    assert json.loads(json_path.read_text())["ctc_output"]  # the encoder graph gives the head's log-probabilities
    onnx = ParagraphTextRecognizer(path, backend="onnx", line_decoding=LINE_DECODING_CTC)
    pages = [page_of_bars(), page_of_bars([150])]
    expected = ParagraphTextRecognizer(path, line_decoding=LINE_DECODING_CTC).predict_batch(pages)
    got = onnx.predict_batch(pages)
    assert [p.text for p in got] == [p.text for p in expected] == ["e\ne\ne", "e"]
    assert [p.confidence for p in got] == pytest.approx([p.confidence for p in expected], abs=1e-3)


@pytest.mark.parametrize("curriculum, read_by", [
    ("0:1", READ_BY_LINES), ("0:1,3:1", READ_BY_LINES), ("0:1,2:3", READ_BY_PAGE),
    ("0:all", READ_BY_PAGE), ("", READ_BY_PAGE), ("0:1-3", READ_BY_PAGE),
])
def test_only_a_curriculum_of_single_lines_throughout_makes_a_line_model(curriculum, read_by):
    assert Curriculum.parse(curriculum).read_by == read_by


def test_a_checkpoint_written_before_read_by_existed_gets_it_from_its_curriculum(tmp_path):
    model = looping_model()
    config = {**model.data_config, "input_dims": list(model.data_config["input_dims"])}
    state = {f"model.{name}": tensor for name, tensor in model.state_dict().items()}
    for curriculum, read_by in (("0:1", READ_BY_LINES), ("0:1,2:all", READ_BY_PAGE)):
        checkpoint = {"state_dict": state, "hyper_parameters": {
            "model_class": "ResnetTransformer", "data_config": config,
            "args": {**LOOPING_ARGS, "curriculum": curriculum}}}
        assert as_model_file(checkpoint, tmp_path / "old.ckpt")["data_config"]["read_by"] == read_by
    written_with_key = {**checkpoint, "hyper_parameters": {**checkpoint["hyper_parameters"],
                                                           "data_config": {**config, "read_by": READ_BY_LINES}}}
    assert as_model_file(written_with_key, tmp_path / "new.ckpt")["data_config"]["read_by"] == READ_BY_LINES
