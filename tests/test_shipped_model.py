"""The shipped paragraph model, tested in the manner of the reference's lab 8: it exists, it is small, it
loads without the training stack, and it reads handwriting it has never seen, in either polarity and at
any scale.

The pages come from the offline source, rendered here with a seed the shipped model never trained on;
their test split is written by a writer whose font no training form used (an unseen hand).
"""
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import use_data_dir
from PIL import Image, ImageOps

from text_recognizer.lit_models.metrics import character_error_rate
from text_recognizer.paragraph_text_recognizer import ParagraphTextRecognizer
from text_recognizer.run_files import DEFAULT_MODEL_PATH
from text_recognizer.vocabulary import convert_labels_to_strings

ROOT = Path(__file__).resolve().parents[1]
MAX_MODEL_MEGABYTES = 30
# Forms by writers the shipped model never saw (another seed of the offline source, in the faces installed
# with the project; the test writer's family, Satisfy, is held out of training in the family split and
# was held out of the shipped model's training too. Seed 7, the one before, now gives a Hershey-script
# writer, a family the shipped model trained on). Measured with the shipped model: see MEASURED_CER.
UNSEEN_FORMS = {"iam_source": "rendered", "iam_rendered_forms": 36, "iam_rendered_writers": 6, "iam_rendered_seed": 9,
                "iam_rendered_fonts": "pypi"}
NUM_PARAGRAPHS = 6
# The bar a model must pass to be shipped at all (issue 11: "as soon as a model reads at all, standard
# CER under 0.30"). Whoever ships a better model sets MEASURED_CER and tightens the threshold to it.
# Mean standard CER of the shipped model on these 4 paragraphs, read jointly (the default): 0.080 / 0.057 /
# 0.054 / 0.060 / 0.059 at 0.75x / 1x / 1.5x / 2x / 3x (spread 0.026). Before the family split (seed 7,
# another held-out face): 0.165 / 0.156 / 0.156 / 0.149 / 0.160, by CTC alone 0.217 / 0.208 / 0.209 / 0.204 /
# 0.218; with BOX shrinking in MatchTrainingScale 1x read worst (joint 0.192).
MEASURED_CER = 0.043  # stage 4 (the family-split fine-tune) at 1x; stage 3 0.056; the figures above are stage 2's
CER_THRESHOLD = 0.10
# The same paragraphs photographed (test_reads_phone_photos_of_unseen_handwriting), read jointly.
MEASURED_PHOTO_CER = 0.186  # stage 4; stage 3 0.200 (0.088 / 0.101 / 0.062 / 0.548: the last is pencil on gray squared paper, docs/photos.md)
PHOTO_CER_THRESHOLD = 0.25
SCALES = (0.75, 1.0, 1.5, 2.0, 3.0)
SCALE_TOLERANCE = 0.03  # mean CER at every scale within this of each other (issue 11), by either decoding

pytestmark = [
    pytest.mark.slow,
    # Until a model is shipped there is nothing to test here; the tests of the recognizer itself
    # (test_paragraph_text_recognizer.py) run on a small random model either way.
    pytest.mark.skipif(not DEFAULT_MODEL_PATH.is_file(), reason=f"no model shipped yet at {DEFAULT_MODEL_PATH}"),
]


@pytest.fixture(scope="module")
def unseen(tmp_path_factory):
    """(PIL images, true texts) of the unseen writer's paragraphs, as the cached crops a user would pass."""
    import argparse

    from text_recognizer.data.iam_paragraphs import IAMParagraphs

    root = tmp_path_factory.mktemp("unseen_iam")
    with pytest.MonkeyPatch.context() as monkeypatch:
        use_data_dir(monkeypatch, root)
        data = IAMParagraphs(argparse.Namespace(**UNSEEN_FORMS, augment_data=False))
        data.prepare_data()
        data.setup()
    test = data.data_test
    count = min(NUM_PARAGRAPHS, len(test))
    images = [Image.open(filename).convert("L") for filename in test.filenames[:count]]
    return images, convert_labels_to_strings(test.labels[:count], data.mapping)


@pytest.fixture(scope="module")
def recognizer():
    return ParagraphTextRecognizer()


def mean_cer(recognizer, images, truths):
    predictions = recognizer.predict_batch(images)
    return sum(character_error_rate([p.text], [t]) for p, t in zip(predictions, truths)) / len(truths)


def test_model_file_is_small_and_loads_without_lightning():
    assert DEFAULT_MODEL_PATH.stat().st_size <= MAX_MODEL_MEGABYTES * 2**20
    code = (
        "import sys; from text_recognizer.model_file import load_model; "
        f"load_model({str(DEFAULT_MODEL_PATH)!r}); "
        "assert 'pytorch_lightning' not in sys.modules and 'lightning' not in sys.modules, 'Lightning was imported'"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_reads_unseen_handwriting_in_either_polarity(recognizer, unseen):
    images, truths = unseen
    assert len(truths) >= 3
    cer = mean_cer(recognizer, images, truths)
    assert cer <= CER_THRESHOLD, f"mean CER {cer:.3f} (measured when shipped: {MEASURED_CER})"
    # dark ink on light paper, as scanners give it: the same reading
    inverted = [ImageOps.invert(image) for image in images]
    assert [p.text for p in recognizer.predict_batch(inverted)] == [p.text for p in recognizer.predict_batch(images)]


def test_a_page_reads_the_same_alone_and_batched_with_others(recognizer, unseen):
    """Issue 34: on a real scan 9 of 9 lines read differently alone and in a batch (the padding was read)."""
    images, _ = unseen
    batched = recognizer.predict_batch(images)
    for image, together in zip(images[:2], batched):
        alone = recognizer.predict_batch([image])[0]
        assert together.text == alone.text
        assert together.confidence == pytest.approx(alone.confidence, abs=1e-4)


@pytest.mark.parametrize("line_decoding", ["ctc", "joint"])
def test_reads_the_same_at_any_scale(unseen, line_decoding):
    images, truths = unseen
    reader = ParagraphTextRecognizer(line_decoding=line_decoding)
    figures = {}
    for scale in SCALES:
        resized = [image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.BILINEAR)
                   for image in images]
        figures[scale] = mean_cer(reader, resized, truths)
    spread = max(figures.values()) - min(figures.values())
    assert spread <= SCALE_TOLERANCE, f"mean CER by scale: {figures}"


def test_reads_phone_photos_of_unseen_handwriting(recognizer, unseen, tmp_path):
    """The same paragraphs written on paper and photographed (photo_effects: paper, rulings, ink colour,
    light, a desk, perspective, focus, noise; paragraph i with seed i), read as JPEG files as a user's
    photos are: the page normalization brings them back to pages the model reads."""
    from text_recognizer.data.synthetic.photo_effects import photograph

    images, truths = unseen
    files = []
    for index, image in enumerate(images):
        files.append(tmp_path / f"photo_{index}.jpg")
        photograph(image, index).save(files[-1], quality=90)
    cer = mean_cer(recognizer, files, truths)
    assert cer <= PHOTO_CER_THRESHOLD, f"mean CER {cer:.3f} on photos (measured when shipped: {MEASURED_PHOTO_CER})"


def test_script_reads_a_png_at_twice_the_scale(unseen, tmp_path):
    images, truths = unseen
    image = ImageOps.invert(images[0])  # as a scan: dark ink on white
    path = tmp_path / "page.png"
    image.resize((image.width * 2, image.height * 2), Image.Resampling.BILINEAR).save(path)
    result = subprocess.run([sys.executable, "text_recognizer/paragraph_text_recognizer.py", str(path)],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert character_error_rate([result.stdout.rstrip("\n")], [truths[0]]) <= max(2 * CER_THRESHOLD, 0.3)
