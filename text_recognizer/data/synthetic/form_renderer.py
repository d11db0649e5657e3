"""One synthetic IAM form: the printed prompt at the top, a writer's handwritten copy below, its XML.

Coordinates: we draw at the stored JPG's resolution (1240x1754, like the archive's halved scans) and
write the XML at full scan resolution (x2), as IAM does. Every cmp box is measured on the ink that
was drawn (per run of inked columns of a word: a letter, or a joined-up chunk), so it encloses it.
"""
from __future__ import annotations

import functools
import random
import xml.etree.ElementTree as ElementTree

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from text_recognizer.data.synthetic import hand_realism
from text_recognizer.data.synthetic.handwriting import Writer
from text_recognizer.data.synthetic.sentence_generator import english_sentences
from text_recognizer.metadata import iam as metadata
from text_recognizer.metadata import iam_paragraphs

PAGE_WIDTH, PAGE_HEIGHT = 1240, 1754  # stored JPG pixels (A4 at 150 dpi); the XML says 2x
MIN_LINES, MAX_LINES = 3, 9
MAX_LINE_CHARACTERS = 60
PRINT_SIZE, PRINT_MARGIN, PRINT_TOP = 24, 130, 190
BOX_MARGIN = 2  # pixels added around measured ink, covering what the blur spreads
# The handwritten region, padded on both sides and halved, must fit the paragraph canvas (576 px high).
HAND_MAX_HEIGHT = iam_paragraphs.IMAGE_HEIGHT * iam_paragraphs.IMAGE_SCALE_FACTOR - 2 * metadata.LINE_REGION_PADDING - 8
INK_LEVEL, PAPER_LEVEL = 25.0, 244.0
GRAIN_SHIFT = 256  # pixels: range of the random offset into the shared paper grain

Box = tuple[int, int, int, int]  # (x, y, w, h) in stored-JPG pixels
PlacedWord = tuple[str, np.ndarray, int, int]  # (word, ink mask, left, top)
WordBoxes = tuple[str, list[Box]]  # a word and the boxes around its ink


def paragraph_text(rng: random.Random, min_characters: int = MAX_LINES * MAX_LINE_CHARACTERS) -> str:
    """Consecutive sentences of the corpus from a random start, at least `min_characters` long."""
    sentences = english_sentences()
    index = rng.randrange(len(sentences))
    words: list[str] = []
    while sum(len(word) + 1 for word in words) < min_characters:
        words += sentences[index % len(sentences)].split()
        index += 1
    return " ".join(words)


def ink_boxes(mask: np.ndarray, left: int, top: int) -> list[Box]:
    """(x, y, w, h) page boxes around each run of inked columns of a word mask, plus BOX_MARGIN."""
    inked = mask.any(axis=0)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], inked.astype(np.int8), [0]])))
    boxes: list[Box] = []
    for start, stop in zip(edges[::2], edges[1::2]):
        rows = np.flatnonzero(mask[:, start:stop].any(axis=1))
        boxes.append((left + int(start) - BOX_MARGIN, top + int(rows[0]) - BOX_MARGIN,
                      int(stop - start) + 2 * BOX_MARGIN, int(rows[-1] - rows[0] + 1) + 2 * BOX_MARGIN))
    return boxes


def write_lines(writer: Writer, words: list[str], rng: random.Random) -> list[list[PlacedWord]]:
    """Lay out handwriting: a list of lines, each a list of (word, mask, left, top), with top in
    pixels from an arbitrary origin (render_form shifts it); stops at the drawn line count, at the
    end of the words, or when one more line would overflow the paragraph canvas."""
    n_lines = rng.randint(MIN_LINES, MAX_LINES)
    left_margin, right_edge = rng.uniform(90, 150), PAGE_WIDTH - rng.uniform(70, 120)
    baseline, index = 3.0 * writer.x_height, 0
    lines: list[list[PlacedWord]] = []
    top_of_text: int | None = None
    for _ in range(n_lines):
        slope, x = rng.uniform(-writer.drift, writer.drift), left_margin + rng.gauss(0, 5)
        # Drawn only when on, so that trees without it keep their bytes.
        wave = hand_realism.baseline_wave(writer.baseline_wave, writer.x_height, rng) if writer.baseline_wave else None
        line: list[PlacedWord] = []
        characters = -1
        while index < len(words) and characters + 1 + len(words[index]) <= MAX_LINE_CHARACTERS:
            mask, x_offset, mask_baseline = writer.render_word(words[index], rng)
            if line and x + x_offset + mask.shape[1] > right_edge:
                break
            left = max(0, round(x + x_offset))
            rise = wave(x - left_margin) if wave else 0.0
            top = round(baseline + slope * (x - left_margin) + rise + rng.gauss(0, 0.8) - mask_baseline)
            line.append((words[index], mask, left, top))
            characters += 1 + len(words[index])
            x = left + mask.shape[1] + writer.word_spacing * writer.x_height * rng.uniform(0.75, 1.3)
            index += 1
        if not line:
            break
        line_top = min(top for _, _, _, top in line)
        line_bottom = max(top + mask.shape[0] for _, mask, _, top in line)
        top_of_text = line_top if top_of_text is None else min(top_of_text, line_top)
        if lines and line_bottom - top_of_text > HAND_MAX_HEIGHT:
            break  # this line would not fit the paragraph canvas: the form ends here
        lines.append(line)
        baseline += writer.line_spacing * writer.x_height * rng.uniform(0.96, 1.04)
    return lines


def draw_print(draw: ImageDraw.ImageDraw, form_id: str, text: str) -> tuple[list[str], int]:
    """Draw the form's printed header and prompt; returns the printed lines and the y below them."""
    title = ImageFont.load_default(size=34)
    draw.text((PRINT_MARGIN, 95), "Sentence Database", fill=255, font=title, stroke_width=1, stroke_fill=255)
    draw.text((PAGE_WIDTH - PRINT_MARGIN, 95), form_id.upper(), fill=255, font=title, anchor="ra")
    font, width = ImageFont.load_default(size=PRINT_SIZE), 0.0
    lines: list[str] = []
    current: list[str] = []
    space = font.getlength(" ")
    for word in text.split():  # greedy wrap; words measured once (measuring each candidate line was slow)
        word_width = font.getlength(word)
        if current and width + space + word_width > PAGE_WIDTH - 2 * PRINT_MARGIN:
            lines.append(" ".join(current))
            current, width = [], 0.0
        width += (space if current else 0.0) + word_width
        current.append(word)
    lines.append(" ".join(current))
    y = PRINT_TOP
    for line in lines:
        draw.text((PRINT_MARGIN, y), line, fill=255, font=font)
        y += round(PRINT_SIZE * 1.45)
    return lines, y


def render_form(form_id: str, writer: Writer, rng: random.Random) -> tuple[Image.Image, str]:
    """The form image (grayscale, PAGE_WIDTH x PAGE_HEIGHT) and its IAM XML text."""
    text = paragraph_text(rng)
    # A face whose lowercase letters are small capitals: its writer writes, and its label says, capitals.
    lines = write_lines(writer, (text.upper() if writer.capitals else text).split(), rng)
    line_texts = [" ".join(word for word, *_ in line) for line in lines]
    printed = Image.new("L", (PAGE_WIDTH, PAGE_HEIGHT), 0)
    draw = ImageDraw.Draw(printed)
    printed_lines, print_bottom = draw_print(draw, form_id, " ".join(line_texts))
    draw.line((PRINT_MARGIN - 40, print_bottom + 30, PAGE_WIDTH - PRINT_MARGIN + 40, print_bottom + 30), fill=255, width=2)
    text_top = min(top for line in lines for *_, top in line)
    text_bottom = max(top + mask.shape[0] for line in lines for _, mask, _, top in line)
    # Shift the handwriting to start below the rule (and end above the page's foot).
    shift = min(print_bottom + 70 - text_top, PAGE_HEIGHT - 110 - text_bottom)
    if text_bottom + shift + 60 < PAGE_HEIGHT - 40:
        rule_y = text_bottom + shift + 40
        draw.line((PRINT_MARGIN - 40, rule_y, PAGE_WIDTH - PRINT_MARGIN + 40, rule_y), fill=255, width=2)
        draw.text((PRINT_MARGIN, rule_y + 12), "Name:", fill=255, font=ImageFont.load_default(size=PRINT_SIZE))
    ink = np.asarray(printed, dtype=np.float32) / 255 * 0.92
    boxes_by_line: list[list[WordBoxes]] = []
    for line in lines:
        boxes_by_line.append([])
        for word, mask, left, top in line:
            top += shift
            region = ink[top : top + mask.shape[0], left : left + mask.shape[1]]
            np.maximum(region, mask[: region.shape[0], : region.shape[1]] / 255, out=region)
            boxes_by_line[-1].append((word, ink_boxes(mask[: region.shape[0], : region.shape[1]], left, top)))
    image = _paper(ink, rng)
    return image, _form_xml(form_id, writer.writer_id, printed_lines, line_texts, boxes_by_line)


@functools.cache
def _paper_grain() -> np.ndarray:
    """Paper grain, made once per process; each form reads it at a random offset (a fresh field per form
    took a fifth of the rendering time)."""
    grain = np.random.default_rng(0).standard_normal((PAGE_HEIGHT + GRAIN_SHIFT, PAGE_WIDTH + GRAIN_SHIFT), dtype=np.float32)
    return grain * np.float32(3.0)


def _paper(ink: np.ndarray, rng: random.Random) -> Image.Image:
    """Ink on slightly uneven, grainy paper, softened like a scan."""
    height, width = ink.shape
    dy, dx = rng.randrange(GRAIN_SHIFT), rng.randrange(GRAIN_SHIFT)
    pixels = _paper_grain()[dy : dy + height, dx : dx + width].copy()
    pixels += (PAPER_LEVEL + np.linspace(-1, 1, width, dtype=np.float32) * rng.uniform(-5, 5))[None, :]
    pixels += (np.linspace(-1, 1, height, dtype=np.float32) * rng.uniform(-5, 5))[:, None]
    pixels -= ink * (pixels - INK_LEVEL)  # paper * (1 - ink) + INK_LEVEL * ink
    np.clip(pixels, 0, 255, out=pixels)
    image = Image.fromarray(pixels.astype(np.uint8), mode="L")
    # A 3x3 Gaussian (sigma 0.4-0.9 px, where 3x3 is nearly exact) costs a fifth of GaussianBlur.
    side = float(np.exp(-1 / (2 * rng.uniform(0.4, 0.9) ** 2)))
    weights = [a * b for a in (side, 1.0, side) for b in (side, 1.0, side)]
    return image.filter(ImageFilter.Kernel((3, 3), weights, scale=sum(weights)))


def _form_xml(form_id: str, writer_id: str, printed_lines: list[str], line_texts: list[str],
              boxes_by_line: list[list[WordBoxes]]) -> str:
    """IAM's schema: <form> with <machine-printed-part> and <handwritten-part>/<line>/<word>/<cmp>."""
    scale = metadata.DOWNSAMPLE_FACTOR
    form = ElementTree.Element("form", {"id": form_id, "writer-id": writer_id,
                                        "width": str(PAGE_WIDTH * scale), "height": str(PAGE_HEIGHT * scale)})
    printed = ElementTree.SubElement(form, "machine-printed-part")
    for text in printed_lines:
        ElementTree.SubElement(printed, "machine-print-line", {"text": text})
    handwritten = ElementTree.SubElement(form, "handwritten-part")
    for line_index, (text, words) in enumerate(zip(line_texts, boxes_by_line)):
        line = ElementTree.SubElement(handwritten, "line", {"id": f"{form_id}-{line_index:02d}", "text": text})
        for word_index, (word, boxes) in enumerate(words):
            tag = word if not any(char.isalnum() for char in word) else "NN"
            element = ElementTree.SubElement(line, "word", {"id": f"{form_id}-{line_index:02d}-{word_index:02d}",
                                                            "text": word, "tag": tag})
            for x, y, w, h in boxes:
                ElementTree.SubElement(element, "cmp", {"x": str(x * scale), "y": str(y * scale),
                                                        "width": str(w * scale), "height": str(h * scale)})
    ElementTree.indent(form)
    return '<?xml version="1.0" encoding="ISO-8859-1"?>\n' + ElementTree.tostring(form, encoding="unicode") + "\n"
