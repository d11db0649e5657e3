"""ParagraphTextRecognizer on a small random model: inputs of every kind, polarity, batching, errors."""
import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from model_fixtures import cnn_content, save_crafted_model_file, save_tiny_paragraph_model
from PIL import Image, ImageDraw, ImageOps

from text_recognizer.metadata import iam_paragraphs as metadata
from text_recognizer.model_file import save_model_file
from text_recognizer.models import ResnetTransformer
from text_recognizer.paragraph_text_recognizer import ParagraphTextRecognizer, main
from text_recognizer.stems.paragraph_core import TARGET_LINE_PITCH, white_ink_on_black

ROOT = Path(__file__).resolve().parents[1]
ARGS = {"tf_dim": 16, "tf_fc_dim": 16, "tf_layers": 1, "tf_nhead": 2}


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    # A short maximum output keeps random-weight decoding fast.
    return save_tiny_paragraph_model(tmp_path_factory.mktemp("model") / "model.pt", output_length=24)


@pytest.fixture(scope="module")
def recognizer(model_path):
    return ParagraphTextRecognizer(model_path)


@pytest.fixture(scope="module")
def page():
    """Dark 'handwriting' on light paper, as a scanner or phone gives it, at the pitch the recognizer reads at."""
    image = Image.new("L", (500, 300), 235)
    draw = ImageDraw.Draw(image)
    for row in range(5):
        top = 30 + round(TARGET_LINE_PITCH) * row
        draw.line([(20, top), (460, top + 5)], fill=30, width=4)
    return image


def test_polarity_is_detected_and_normalised(page):
    assert np.median(np.asarray(white_ink_on_black(page))) < 50
    assert white_ink_on_black(ImageOps.invert(page)).tobytes() == ImageOps.invert(page).tobytes()


def test_either_polarity_and_any_mode_give_the_same_text(recognizer, page):
    expected = recognizer.predict(page)
    assert recognizer.predict(ImageOps.invert(page)) == expected
    assert recognizer.predict(page.convert("RGB")) == expected
    assert recognizer.predict(page.convert("RGBA")) == expected
    sixteen = Image.fromarray(np.asarray(page).astype(np.uint16) * 257)
    assert recognizer.predict(sixteen) == expected
    assert recognizer.predict(np.asarray(page)) == expected


def test_large_images_are_scaled_down_to_fit(recognizer, page):
    big = page.resize((page.width * 6, page.height * 6))
    x = recognizer.preprocess(big)
    assert x.shape[0] == 1 and x.shape[1] <= metadata.IMAGE_HEIGHT and x.shape[2] <= metadata.IMAGE_WIDTH
    columns = (x[0] > 0.5).any(dim=0).nonzero()
    # the ink spans 440 of 500 px: scaled down (to the training handwriting size), it is never cropped
    assert columns.min() > 0 and columns.max() < x.shape[2] - 1
    assert abs(x.shape[2] / x.shape[1] - big.width / big.height) < 0.05  # the aspect ratio is kept


def test_images_are_read_at_their_own_size_and_batches_padded(recognizer, page):
    x = recognizer.preprocess(page)
    assert tuple(x.shape) == (1, page.height, page.width)  # its handwriting is at the target pitch already


def test_a_model_trained_at_a_smaller_line_pitch_is_handed_pages_at_that_pitch(page, tmp_path):
    config = {"input_dims": list(metadata.DIMS), "output_dims": [24, 1], "mapping": metadata.MAPPING, "line_pitch": 24.0}
    model = ResnetTransformer({**config, "input_dims": metadata.DIMS}, argparse.Namespace(**ARGS))
    save_model_file({"model_class": "ResnetTransformer", "data_config": config, "model_config": ARGS,
                     "state_dict": model.state_dict()}, tmp_path / "model.pt")
    x = ParagraphTextRecognizer(tmp_path / "model.pt").preprocess(page)
    assert tuple(x.shape) == pytest.approx((1, page.height / 2, page.width / 2), abs=2)


def test_batches_agree_with_single_predictions_and_give_confidences(recognizer, page):
    images = [page, ImageOps.invert(page), page.rotate(3, fillcolor=235)]
    batch = recognizer.predict_batch(images, batch_size=2)
    assert [p.text for p in batch] == [recognizer.predict(image) for image in images]
    assert all(0 < p.confidence <= 1 for p in batch)


def test_a_printed_page_and_a_photo_of_it_are_read_without_trouble(recognizer):
    """Not handwriting, but users will try: typed text on white, and a phone photo of it (EXIF-free JPEG)."""
    from PIL import ImageFont

    from text_recognizer.data.synthetic.photo_effects import PhotoOptions, photograph

    printed = Image.new("L", (700, 220), 255)
    draw = ImageDraw.Draw(printed)
    font = ImageFont.load_default(size=28)
    for row, line in enumerate(["The quick brown fox jumps", "over the lazy dog, twice.", "Printed, not written."]):
        draw.text((30, 20 + 64 * row), line, fill=0, font=font)
    photo = photograph(ImageOps.invert(printed), 1, PhotoOptions(width=(1400, 1500)))
    for prediction in recognizer.predict_batch([printed, photo]):
        assert isinstance(prediction.text, str) and 0 <= prediction.confidence <= 1 and not prediction.warnings


def test_bad_inputs_are_clear_errors(recognizer, tmp_path):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="is empty"):
        recognizer.predict(empty)
    with pytest.raises(FileNotFoundError):
        recognizer.predict(tmp_path / "missing.png")
    with pytest.raises(FileNotFoundError, match="save_best_model"):
        ParagraphTextRecognizer(tmp_path / "no_model.pt")


@pytest.mark.slow
def test_script_prints_texts_and_json(model_path, page, tmp_path):
    page.save(tmp_path / "page.png")
    ImageOps.invert(page).save(tmp_path / "inverted.png")
    command = [sys.executable, "text_recognizer/paragraph_text_recognizer.py", "--model_path", str(model_path),
               "--json", str(tmp_path / "page.png"), str(tmp_path / "inverted.png")]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert first["text"] == second["text"] and 0 < first["confidence"] <= 1
    bad = subprocess.run([*command[:4], str(tmp_path / "missing.png")], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 1 and "no such image file" in bad.stderr


def test_a_model_file_that_would_run_code_is_refused_by_the_recognizer_and_the_script(tmp_path, page, capsys):
    marker = tmp_path / "payload_ran"
    crafted = save_crafted_model_file(tmp_path / "model.pt", marker)
    with pytest.raises(ValueError, match="never loaded"):
        ParagraphTextRecognizer(model_path=crafted)
    page.save(tmp_path / "page.png")
    assert main(["--model_path", str(crafted), str(tmp_path / "page.png")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {crafted}") and "never loaded" in err and "Traceback" not in err
    assert not marker.exists()


def test_a_model_file_of_a_model_that_cannot_read_text_is_a_one_line_error(tmp_path, page, capsys):
    path = tmp_path / "cnn.pt"
    save_model_file(cnn_content(), path)
    with pytest.raises(ValueError, match="holds a CNN.*not a text model"):
        ParagraphTextRecognizer(path)
    page.save(tmp_path / "page.png")
    assert main(["--model_path", str(path), str(tmp_path / "page.png")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {path} holds a CNN")


def test_the_script_prints_every_good_file_and_names_each_bad_one(model_path, page, tmp_path, capsys):
    page.save(tmp_path / "a.png")
    (tmp_path / "bad.png").write_text("not an image")
    ImageOps.invert(page).save(tmp_path / "c.png")
    files = [str(tmp_path / name) for name in ("a.png", "bad.png", "missing.png", "c.png")]
    assert main(["--model_path", str(model_path), "--json", *files]) == 1
    captured = capsys.readouterr()
    printed = [json.loads(line) for line in captured.out.splitlines()]
    assert [p["file"] for p in printed] == [files[0], files[3]]  # in order, the bad ones left out
    errors = captured.err.splitlines()
    assert len(errors) == 3 and files[1] in errors[0] and files[2] in errors[1] and "Traceback" not in captured.err
    assert errors[2] == "error: 2 of 4 files could not be read"


def test_huge_files_are_decoded_small_and_files_over_the_pixel_limit_refused(recognizer, page, tmp_path, capsys,
                                                                            model_path, monkeypatch):
    big = page.resize((page.width * 8, page.height * 8))  # 4000x2400: read at an eighth of its size (back to the target pitch)
    big.save(tmp_path / "big.png")
    from_file, in_memory = recognizer.preprocess(tmp_path / "big.png"), recognizer.preprocess(big)
    # the same page, give or take the rounding of the line pitch measured on it
    assert all(abs(a - b) <= 3 for a, b in zip(from_file.shape, in_memory.shape))
    common = (slice(None), slice(0, min(from_file.shape[1], in_memory.shape[1])), slice(0, 300))
    assert (from_file[common] - in_memory[common]).abs().mean() < 0.05
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 5_000_000)
    assert main(["--model_path", str(model_path), str(tmp_path / "big.png")]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'big.png'} has 4000x2400 pixels, more than the limit of 5000000" in err


def test_beam_width_zero_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--beam_width=0", "page.png"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "--beam_width" in err and "Traceback" not in err


def test_a_safetensors_file_is_told_what_model_files_are(tmp_path, capsys):
    import json as json_
    import struct

    header = json_.dumps({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
    (tmp_path / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + bytes(4))
    (tmp_path / "renamed.pt").write_bytes((tmp_path / "model.safetensors").read_bytes())
    for name in ("model.safetensors", "renamed.pt"):
        assert main(["--model_path", str(tmp_path / name), "page.png"]) == 1
        err = capsys.readouterr().err
        assert "is a safetensors file: this project's model files are model.pt" in err and err.count("\n") == 1
