"""line_boxes / split_lines: a page of handwriting -> its lines, top to bottom, for models that read one
line at a time (data config read_by="lines")."""
import numpy as np
import pytest
from PIL import Image

from text_recognizer.stems.paragraph_core import (
    LINE_MARGIN_PITCHES,
    MatchTrainingScale,
    line_boxes,
    split_lines,
)


def page_of_lines(pitch: int, widths: list[int], ink: int = 255, descenders: bool = False) -> np.ndarray:
    """8-bit white 'words' on black, one row of bars per width, baseline to baseline `pitch` pixels;
    with `descenders`, a tall stroke from each line reaches halfway into the next line's band."""
    array = np.zeros((pitch * (len(widths) + 1), max(widths) + 40), dtype=np.uint8)
    rng = np.random.default_rng(pitch)
    for line, width in enumerate(widths):
        top = pitch // 2 + line * pitch
        x = 10
        while x < 10 + width:
            word = min(int(rng.integers(20, 60)), 10 + width - x)
            array[top : top + pitch * 2 // 5, x : x + word] = ink
            if descenders and line + 1 < len(widths):
                array[top : top + pitch * 9 // 10, x : x + 2] = ink  # a 'g' or 'y' reaching down
            x += word + int(rng.integers(8, 16))
    return array


@pytest.mark.parametrize("pitch", [16, 30, 48, 90])
def test_every_line_is_found_top_to_bottom_and_boxed_to_its_ink(pitch):
    widths = [300, 280, 310, 120]
    page = page_of_lines(pitch, widths)
    boxes = line_boxes(page)
    assert len(boxes) == len(widths)
    core = pitch * 2 // 5
    for line, (top, bottom, left, right) in enumerate(boxes):
        line_top = pitch // 2 + line * pitch
        margin = round(LINE_MARGIN_PITCHES * pitch)  # the pitch is measured to the pixel here
        assert (top, bottom) == (line_top - margin, line_top + core + margin)  # the bars' rows and the margin
        columns = np.flatnonzero(page[line_top : line_top + core].any(axis=0))
        assert (left, right) == (10 - margin, columns[-1] + 1 + margin)
    assert boxes[-1][3] < 150  # the short last line is kept, as short as it is


def test_strokes_that_reach_into_the_next_line_do_not_merge_the_lines():
    widths = [300, 300, 300, 300, 300]
    boxes = line_boxes(page_of_lines(48, widths, descenders=True))
    assert len(boxes) == len(widths)
    assert all(b[0] < next_b[0] for b, next_b in zip(boxes, boxes[1:]))


def test_eight_bit_and_unit_range_pages_grey_ink_and_any_scale_split_alike():
    page = page_of_lines(40, [300, 300, 200])
    expected = line_boxes(page)
    assert line_boxes(page.astype(np.float32) / 255) == expected
    assert [b[:2] for b in line_boxes(page // 3)] == [b[:2] for b in expected]  # faint pencil: still ink
    doubled = np.asarray(Image.fromarray(page).resize((page.shape[1] * 2, page.shape[0] * 2)))
    assert len(line_boxes(doubled)) == 3


def test_a_stray_dot_is_no_line_and_a_blank_page_has_none():
    page = page_of_lines(40, [300, 300])
    page[-5:-3, 50:52] = 255  # a speck below the last line
    assert len(line_boxes(page)) == 2
    assert line_boxes(np.zeros((100, 200), dtype=np.uint8)) == []
    blank = Image.new("L", (200, 100), 0)
    assert split_lines(blank) == []  # no lines: a blank page reads as no text


def test_split_lines_crops_the_pil_page_and_works_at_the_recognizers_scale():
    page = Image.fromarray(page_of_lines(30, [300, 250, 280]))
    lines = split_lines(MatchTrainingScale()(page))  # the recognizer's order: the page at 48 px, then cut
    assert len(lines) == 3
    assert all(abs(line.height - (0.4 + 2 * LINE_MARGIN_PITCHES) * 48) <= 2 for line in lines)  # at pitch 48
    assert lines[1].width < lines[0].width
    top_line = np.zeros((20, 100), dtype=np.uint8)
    top_line[1:12, 30:70] = 255  # one line touching the top of the page
    (box,) = line_boxes(top_line)
    crop = np.asarray(split_lines(Image.fromarray(top_line))[0])
    assert box[0] < 0 and crop.shape[0] == box[1] - box[0] and crop[: -box[0]].max() == 0  # black beyond the page


def test_the_offline_sources_paragraphs_split_into_their_labelled_lines(tiny_iam_args):
    """Every paragraph of the tiny rendered IAM (real fonts, slant, baselines) splits into as many lines
    as its label has, at the recognizer's scale."""
    from text_recognizer.data.iam_paragraphs import IAMParagraphs
    from text_recognizer.stems.paragraph_core import white_ink_on_black
    from text_recognizer.vocabulary import convert_labels_to_strings

    data = IAMParagraphs(tiny_iam_args)
    data.prepare_data()
    data.setup()
    for split in ("train", "val", "test"):
        dataset = getattr(data, f"data_{split}")
        texts = convert_labels_to_strings(dataset.labels, data.mapping)
        for filename, text in zip(dataset.filenames, texts):
            with Image.open(filename) as file:
                page = white_ink_on_black(file.convert("L"))
            assert len(split_lines(MatchTrainingScale()(page))) == text.count("\n") + 1, filename
