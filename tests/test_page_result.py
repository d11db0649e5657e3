"""Line boxes come back in the image as the user gave it: scaled, padded, reduced on decode or not."""

import numpy as np
import pytest
from model_fixtures import save_tiny_paragraph_model
from PIL import Image, ImageDraw, ImageOps

from text_recognizer.page_result import PageGeometry
from text_recognizer.paragraph_text_recognizer import NO_TEXT_FOUND, ParagraphTextRecognizer
from text_recognizer.stems.paragraph_core import TARGET_LINE_PITCH

PITCH = round(TARGET_LINE_PITCH)
LINES = 4


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return save_tiny_paragraph_model(tmp_path_factory.mktemp("model") / "model.pt", output_length=12)


@pytest.fixture(scope="module")
def by_lines(model_path):
    return ParagraphTextRecognizer(model_path, read_by="lines")


def written_page() -> tuple[Image.Image, list[tuple[int, int, int, int]]]:
    """Dark scribbles on light paper, LINES lines at the model's pitch, and each line's ink (x0, y0, x1, y1)."""
    image = Image.new("L", (520, 40 + LINES * PITCH), 235)
    draw = ImageDraw.Draw(image)
    inks = []
    for row in range(LINES):
        top, right = 30 + PITCH * row, 460 - 60 * row  # lines of different lengths: each box is its own line's
        starts = range(24, right, 18)
        for x in starts:  # letter-like strokes, x-height about a third of the pitch
            draw.line([(x, top + 14), (x + 9, top), (x + 14, top + 14)], fill=25, width=3)
        inks.append((24, top, starts[-1] + 14, top + 14))
    return image, inks


def contains(box, ink, slack=1):
    return (box[0] <= ink[0] + slack and box[1] <= ink[1] + slack and box[2] >= ink[2] - slack and box[3] >= ink[3] - slack)


@pytest.mark.parametrize("scale,border", [(1, 0), (2, 60)])
def test_each_line_box_holds_its_line_ink_in_the_image_as_given(by_lines, scale, border):
    page, inks = written_page()
    given = ImageOps.expand(page.resize((page.width * scale, page.height * scale), Image.Resampling.BILINEAR),
                            border=border, fill=235)
    prediction = by_lines.predict_batch([given])[0]
    assert prediction.image_size == given.size
    assert prediction.read_by == "lines"
    assert len(prediction.lines) == LINES
    for line, (x0, y0, x1, y1) in zip(prediction.lines, inks):
        ink = (x0 * scale + border, y0 * scale + border, x1 * scale + border, y1 * scale + border)
        assert contains(line.box, ink), (line.box, ink)
        # and not much more: the box is its line's, grown by a margin, not the page's
        assert line.box[3] - line.box[1] < 2 * PITCH * scale
        assert abs((line.box[2] - line.box[0]) - (ink[2] - ink[0])) < PITCH * scale
        xs, ys = [x for x, _ in line.polygon], [y for _, y in line.polygon]
        assert (min(xs), min(ys), max(xs), max(ys)) == pytest.approx(line.box, abs=1)
        assert line.box[1] < line.baseline[0][1] < line.box[3]
        assert 0 <= line.confidence <= 1
    assert prediction.text == "\n".join(line.text for line in prediction.lines)


def test_boxes_are_in_the_files_pixels_when_a_large_file_is_decoded_reduced(by_lines, tmp_path):
    page, inks = written_page()
    scale = 6  # 3120 px wide: read_image_pil reduces it (it fits the model's canvas anyway)
    path = tmp_path / "large.png"
    page.resize((page.width * scale, page.height * scale), Image.Resampling.BILINEAR).save(path)
    prediction = by_lines.predict_batch([str(path)])[0]
    assert prediction.image_size == (page.width * scale, page.height * scale)
    assert len(prediction.lines) == LINES
    for line, ink in zip(prediction.lines, inks):
        assert contains(line.box, tuple(v * scale for v in ink), slack=scale), (line.box, ink)


def test_a_page_read_whole_is_one_line_the_page(model_path):
    page, _ = written_page()
    prediction = ParagraphTextRecognizer(model_path, read_by="page").predict_batch([page])[0]
    assert prediction.read_by == "page"
    assert len(prediction.lines) == 1
    assert prediction.lines[0].box == (0, 0, page.width, page.height)
    assert prediction.lines[0].text == prediction.text


def test_a_blank_page_has_no_lines(by_lines):
    prediction = by_lines.predict_batch([Image.new("L", (300, 200), 235)])[0]
    assert (prediction.text, prediction.lines, prediction.warnings) == ("", [], [NO_TEXT_FOUND])
    assert prediction.image_size == (300, 200)


def test_geometry_undoes_scale_and_warp():
    # the model's page is twice the normalized page; the normalized page is the input shifted by (10, 5)
    shift = np.array([[1, 0, 10], [0, 1, 5], [0, 0, 1]], np.float64)
    geometry = PageGeometry.compose(shift, (2.0, 2.0), decoded_size=(100, 50), image_size=(200, 100))
    line = geometry.line("x", 0.5, (20, 40, 10, 60))  # top, bottom, left, right on the model's page
    # x: 10/2 + 10 = 15 -> doubled to the file: 30; y: 20/2 + 5 = 15 -> 30
    assert line.box == (30, 30, 80, 50)
    assert line.polygon == [(30, 30), (80, 30), (80, 50), (30, 50)]
