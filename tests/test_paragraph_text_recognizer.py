"""ParagraphTextRecognizer on a small random model: inputs of every kind, polarity, batching, errors."""
import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageOps

from text_recognizer.metadata import iam_paragraphs as metadata
from text_recognizer.model_file import save_model_file
from text_recognizer.models import ResnetTransformer
from text_recognizer.paragraph_text_recognizer import ParagraphTextRecognizer, white_ink_on_black

ROOT = Path(__file__).resolve().parents[1]
ARGS = {"tf_dim": 16, "tf_fc_dim": 16, "tf_layers": 1, "tf_nhead": 2}


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    # A short maximum output keeps random-weight decoding fast.
    config = {"input_dims": list(metadata.DIMS), "output_dims": [24, 1], "mapping": metadata.MAPPING}
    model = ResnetTransformer({**config, "input_dims": metadata.DIMS}, argparse.Namespace(**ARGS))
    path = tmp_path_factory.mktemp("model") / "model.pt"
    save_model_file({"model_class": "ResnetTransformer", "data_config": config, "args": ARGS,
                     "state_dict": model.state_dict()}, path)
    return path


@pytest.fixture(scope="module")
def recognizer(model_path):
    return ParagraphTextRecognizer(model_path)


@pytest.fixture(scope="module")
def page():
    """Dark 'handwriting' on light paper, as a scanner or phone gives it."""
    image = Image.new("L", (500, 300), 235)
    draw = ImageDraw.Draw(image)
    for row in range(5):
        draw.line([(20, 40 + 50 * row), (460, 45 + 50 * row)], fill=30, width=4)
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
    assert tuple(x.shape) == (1, page.height, page.width)  # its handwriting is of the training size


def test_batches_agree_with_single_predictions_and_give_confidences(recognizer, page):
    images = [page, ImageOps.invert(page), page.rotate(3, fillcolor=235)]
    batch = recognizer.predict_batch(images, batch_size=2)
    assert [p.text for p in batch] == [recognizer.predict(image) for image in images]
    assert all(0 < p.confidence <= 1 for p in batch)


def test_bad_inputs_are_clear_errors(recognizer, tmp_path):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="is empty"):
        recognizer.predict(empty)
    with pytest.raises(FileNotFoundError):
        recognizer.predict(tmp_path / "missing.png")
    with pytest.raises(FileNotFoundError, match="save_best_model"):
        ParagraphTextRecognizer(tmp_path / "no_model.pt")


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
