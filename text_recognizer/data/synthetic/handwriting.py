"""Synthetic handwriting: a writer (a font plus a hand's habits) renders words as ink masks.

Faces come from sources/handwriting_fonts.py: TrueType handwriting faces (PyPI's `fontpkg-*`, npm font
packages, Debian's) and the single-stroke Hershey fonts (`Hershey-Fonts`), whose strokes we draw as
polylines with the writer's pen width.
All sizes are in pixels of the stored form image (half the scan resolution, like IAM's JPGs).
"""
from __future__ import annotations

import dataclasses
import functools
import random
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from text_recognizer.data.sources import handwriting_fonts
from text_recognizer.data.synthetic import hand_realism

HERSHEY_PREFIX = "hershey-"
HERSHEY_SCRIPTS = ("scripts", "scriptc", "cursive")  # joined-up
HERSHEY_BASELINE, HERSHEY_X_TOP = 9, {"scripts": 0, "scriptc": 0, "cursive": 0}  # font units, y down
HERSHEY_X_TOP_DEFAULT = -5
MIN_X_HEIGHT, MAX_X_HEIGHT = 11.0, 26.0  # pixels; IAM's writers range about 15 to 25
CALIBRATION_TEXT = "The quick brown fox jumps over the lazy dog, said Mr. Smith; then he went home."
WOBBLE_MARGIN = 4  # pixels added around a word before distorting it (more than the largest shift)
PAD = 4  # pixels of margin around a word canvas, so nothing is clipped before cropping


def font_names(font_set: str = handwriting_fonts.DEFAULT_FONT_SET) -> list[str]:
    """Every face of a font set (sources/handwriting_fonts.py), TrueType ones first, then Hershey's."""
    return [face.name for face in handwriting_fonts.faces(font_set)]


@functools.cache
def _is_connected(name: str) -> bool:
    """Joined-up faces are drawn a word at a time so that the letters stay connected."""
    return handwriting_fonts.face_info(name).connected


@functools.lru_cache(maxsize=256)
def _ttf(name: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(handwriting_fonts.font_file(name)), size)


@functools.cache
def _ttf_x_height_ratio(name: str) -> float:
    """x-height / font size, so that every font is drawn at the writer's x-height."""
    return -_ttf(name, 100).getbbox("x", anchor="ls")[1] / 100


@functools.cache
def _hershey(name: str):
    from HersheyFonts import HersheyFonts  # imported here: only rendering needs it

    font = HersheyFonts()
    font.load_default_font(name)
    return font


@dataclass(frozen=True)
class Writer:
    """One hand: a font and the habits that make its words differ from typeset text."""

    writer_id: str
    font: str
    x_height: float  # pixels
    slant: float  # horizontal shear (tan of the lean angle); positive leans right
    letter_spacing: float  # extra space between letters, in x-heights (print fonts)
    word_spacing: float  # space between words, in x-heights
    line_spacing: float  # baseline to baseline, in x-heights
    darkness: float  # ink opacity, 0..1
    pen_width: float  # pixels (Hershey strokes)
    jitter: float  # per-letter baseline and size wobble, pixels
    drift: float  # largest baseline slope of a line (rise over run)
    wobble: float = 0.08  # amplitude of the smooth distortion of every word, in x-heights
    # The hand's own letter shapes (`with_own_letters`; neutral by default, the fonts' shapes):
    width_scale: float = 1.0  # horizontal stretch of every word: narrow or broad writing
    letter_habits: float = 0.0  # strength of each letter's lasting distortion (0: the font's letters)
    letter_seed: int = 0  # which distortions: the same letter is always bent the same way by one hand
    ttf_stroke: int = 0  # pixels of outline added to TrueType letters: a broader pen
    capitals: bool = False  # writes in capitals (its face has small capitals for lowercase letters)
    # What fonts lack (hand_realism.py; all off by default):
    glyph_variants: int = 0  # variants of each letter, one picked per occurrence
    variant_seed: int = 0
    baseline_wave: float = 0.0  # the baseline's rise and fall along a line, in x-heights
    word_variation: float = 0.0  # more size and slant change from word to word
    pressure: float = 0.0  # stroke width varying along a word
    pen: str = ""  # "" (the face's own stroke), or one of hand_realism.PENS

    @classmethod
    def sample(cls, writer_id: str, font: str, rng: random.Random) -> Writer:
        return cls(
            writer_id=writer_id, font=font, x_height=rng.uniform(15, 21),
            slant=min(max(rng.gauss(0.12, 0.12), -0.15), 0.4), letter_spacing=rng.uniform(-0.02, 0.12),
            word_spacing=rng.uniform(0.45, 0.9), line_spacing=rng.uniform(3.4, 4.4), darkness=rng.uniform(0.7, 0.97),
            pen_width=rng.uniform(1.6, 3.0), jitter=rng.uniform(0.4, 1.6), drift=rng.uniform(0.0, 0.015), wobble=rng.uniform(0.05, 0.11),
        )

    def with_own_letters(self, strength: float, rng: random.Random) -> Writer:
        """The same hand with letters of its own: a lasting width, pen and distortion of every letter.

        Two writers of one font then write as two hands (the fonts alone give 21 training hands); a
        strength of 1 bends a letter by about a tenth of the x-height and stretches words by up to 15%.
        """
        if strength <= 0:
            return self
        return dataclasses.replace(
            self, width_scale=1 + strength * rng.uniform(-0.15, 0.15), letter_habits=strength,
            letter_seed=rng.randrange(2**31), ttf_stroke=int(rng.random() < min(0.25 * strength, 0.5)),
        )

    def fitted(self, characters_per_line: float, line_width: float) -> Writer:
        """The same hand at the x-height that writes about `characters_per_line` in `line_width` pixels.

        Fonts differ by 2.5x in width per x-height, so a fixed size would give 25 characters per line
        in one font and 70 in another; IAM's lines hold 35 to 60.
        """
        rng, width = random.Random(0), 0.0
        for word in CALIBRATION_TEXT.split():
            mask, _, _ = self.render_word(word, rng)
            width += mask.shape[1] + self.word_spacing * self.x_height
        per_character = width / (len(CALIBRATION_TEXT) + 1) / self.x_height  # in x-heights
        x_height = line_width / characters_per_line / per_character
        return dataclasses.replace(self, x_height=min(max(x_height, MIN_X_HEIGHT), MAX_X_HEIGHT))

    def render_word(self, word: str, rng: random.Random) -> tuple[np.ndarray, int, int]:
        """Ink of one word: (mask uint8 HxW, left offset from the pen, baseline row in the mask).

        Each word varies around the writer's habits: size, slant and darkness change a little.
        """
        x_height = self.x_height * rng.uniform(0.94, 1.06)
        if self.word_variation:  # drawn only when on, so that trees without it keep their bytes
            x_height *= float(np.exp(rng.gauss(0, 0.07 * self.word_variation)))
        if self.font.startswith(HERSHEY_PREFIX):
            image, baseline = self._draw_hershey(word, x_height, rng)
        else:
            image, baseline = self._draw_ttf(word, x_height, rng)
        if self.width_scale != 1.0:
            image = image.resize((max(1, round(image.width * self.width_scale)), image.height), Image.Resampling.BILINEAR)
        slant = self.slant + rng.gauss(0, 0.03) + (rng.gauss(0, 0.05 * self.word_variation) if self.word_variation else 0.0)
        box = image.getbbox()
        if box is None:  # nothing drawn (a character the font lacks)
            return np.zeros((1, 1), np.uint8), 0, 0
        # Shear only the inked box, with a pixel of margin for the resampling: a third of the cost.
        left, top = max(box[0] - 1, 0), max(box[1] - 1, 0)
        image = image.crop((left, top, box[2] + 1, box[3] + 1))
        image, x0 = _shear(image, baseline - top, slant)
        x0, baseline = x0 + left, baseline - top
        mask = _wobble(np.asarray(image), self.wobble * x_height, x_height, rng)
        x0, baseline = x0 - WOBBLE_MARGIN, baseline + WOBBLE_MARGIN
        columns, rows = np.flatnonzero(mask.any(axis=0)), np.flatnonzero(mask.any(axis=1))
        if columns.size == 0:
            return np.zeros((1, 1), np.uint8), 0, 0
        mask = mask[rows[0] : rows[-1] + 1, columns[0] : columns[-1] + 1]
        x0, baseline = x0 + int(columns[0]), baseline - int(rows[0])
        if self.pressure or self.pen:
            mask = hand_realism.ink(mask, self.pressure, self.pen, x_height, rng)
            x0, baseline = x0 - 1, baseline + 1  # ink() adds a pixel of margin
        opacity = self.darkness * rng.uniform(0.9, 1.05)
        return (np.minimum(mask * opacity, 255)).astype(np.uint8), x0, baseline

    def _draw_ttf(self, word: str, x_height: float, rng: random.Random) -> tuple[Image.Image, int]:
        size = max(8, round(x_height / _ttf_x_height_ratio(self.font)))
        font = _ttf(self.font, size)
        width = int(font.getlength(word) * 1.3 + len(word) * self.letter_spacing * x_height) + 2 * size + 2 * PAD
        baseline = int(1.2 * size) + PAD
        image = Image.new("L", (width, int(1.8 * size) + 2 * PAD), 0)
        draw = ImageDraw.Draw(image)

        def write(xy: tuple[float, float], text: str, font: ImageFont.FreeTypeFont) -> None:
            draw.text(xy, text, fill=255, font=font, anchor="ls", stroke_width=self.ttf_stroke, stroke_fill=255)

        if _is_connected(self.font):
            write((PAD, baseline + rng.gauss(0, self.jitter / 2)), word, font)
            return image, baseline
        x = float(PAD)
        for char in word:  # letter by letter: each letter sits and sizes a little differently
            habit_size, habit_rise = 1.0, 0.0
            if self.letter_habits:  # and this hand's letters always a little larger or higher than the font's
                habit = letter_habit(self.letter_seed, self.letter_habits, char)
                habit_size, habit_rise = habit.size, -habit.rise * x_height  # y down
            shape = None
            if self.glyph_variants:  # one of this hand's ways of writing the letter
                shape = hand_realism.variant(self.variant_seed, rng.randrange(self.glyph_variants), char)
                habit_size, habit_rise = habit_size * shape.size, habit_rise - shape.rise * x_height
            letter_font = _ttf(self.font, max(8, round(size * habit_size * rng.uniform(0.96, 1.04))))
            xy = (x, baseline + habit_rise + rng.gauss(0, self.jitter))
            if shape is None:
                write(xy, char, letter_font)
                advance = letter_font.getlength(char)
            else:
                advance = hand_realism.draw_variant(image, xy, char, letter_font, shape, self.ttf_stroke)
            x += advance + self.letter_spacing * x_height + rng.gauss(0, self.jitter / 2)
        return image, baseline

    def _draw_hershey(self, word: str, x_height: float, rng: random.Random) -> tuple[Image.Image, int]:
        name = self.font[len(HERSHEY_PREFIX) :]
        x_top = HERSHEY_X_TOP.get(name, HERSHEY_X_TOP_DEFAULT)
        scale = x_height / (HERSHEY_BASELINE - x_top)  # pixels per font unit
        font, strokes, pen_x = _hershey(name), [], 0.0
        # Letter by letter, so each letter sits and sizes a little differently (less in joined-up
        # scripts, whose letters must still meet).
        jitter = self.jitter * (0.3 if name in HERSHEY_SCRIPTS else 1.0)
        for char in word:
            glyph_scale = scale * rng.uniform(1 - 0.02 * jitter, 1 + 0.02 * jitter)
            rise = rng.gauss(0, 0.5 * jitter)
            glyphs = list(font.glyphs_for_text(char))
            width = glyphs[0].char_width if glyphs else 0
            habit = letter_habit(self.letter_seed, self.letter_habits, char) if self.letter_habits else None
            bend = self._bend_letter(habit, HERSHEY_BASELINE - x_top, self.letter_habits)
            if self.glyph_variants:  # one of this hand's ways of writing the letter: a second, smaller bend
                shape = letter_habit(self.variant_seed + rng.randrange(self.glyph_variants), hand_realism.VARIANT_STRENGTH, char)
                own, varied = bend, self._bend_letter(shape, HERSHEY_BASELINE - x_top, hand_realism.VARIANT_STRENGTH)
                bend = lambda point, own=own, varied=varied: varied(own(point))  # noqa: E731
            strokes += [[(pen_x + x * glyph_scale, (y - HERSHEY_BASELINE) * glyph_scale + rise) for x, y in map(bend, stroke)]
                        for stroke in font.strokes_for_text(char)]
            pen_x += width * glyph_scale * (habit.stretch_x if habit else 1.0) + rng.gauss(0, 0.3 * jitter)
        if not strokes:
            return Image.new("L", (1, 1), 0), 0
        xs = [x for stroke in strokes for x, _ in stroke]
        ys = [y for stroke in strokes for _, y in stroke]
        margin = PAD + self.pen_width + 2 * self.jitter
        left, top = min(xs) - margin, min(ys) - margin
        image = Image.new("L", (int(max(xs) - left + margin) + 1, int(max(ys) - top + margin) + 1), 0)
        draw = ImageDraw.Draw(image)
        # A slow wave along the word and a little tremor at every point: a hand, not a plotter.
        phase, period = rng.uniform(0, 6.3), rng.uniform(3, 6) * x_height
        pen = max(1, round(self.pen_width))
        for stroke in strokes:
            points = [(x - left + rng.gauss(0, 0.15 * self.jitter),
                       y - top + 0.5 * self.jitter * np.sin(phase + x / period * 6.3) + rng.gauss(0, 0.15 * self.jitter))
                      for x, y in stroke]
            draw.line(points, fill=255, width=pen, joint="curve")
            if pen > 2:  # round caps, so stroke ends are not cut square
                for x, y in (points[0], points[-1]):
                    draw.ellipse((x - pen / 2, y - pen / 2, x + pen / 2, y + pen / 2), fill=255)
        return image, int(round(-top))

    def _bend_letter(self, habit: LetterHabit | None, x_height: float, strength: float):
        """This hand's lasting change of a Hershey letter, (x, y) -> (x, y) in font units (y down): its
        own width, height, lean and a slow bend, the same every time the hand writes that letter."""
        if habit is None:
            return lambda point: point
        amplitude = strength * 0.1 * x_height
        (frequency_x, phase_x), (frequency_y, phase_y) = ((f / x_height, p) for f, p in habit.waves)

        def bend(point: tuple[float, float]) -> tuple[float, float]:
            x, y = point
            above = HERSHEY_BASELINE - y  # height above the baseline
            return (x * habit.stretch_x + habit.lean * above + amplitude * np.sin(frequency_x * y + phase_x),
                    HERSHEY_BASELINE - above * habit.stretch_y + amplitude * np.sin(frequency_y * x + phase_y))
        return bend


class LetterHabit(NamedTuple):
    """How one hand always changes one letter (with_own_letters): stretches, lean, size, rise, bends."""

    stretch_x: float
    stretch_y: float
    lean: float  # shear, x per unit of height
    size: float  # TrueType letters: the size factor
    rise: float  # TrueType letters: baseline shift, in x-heights (positive up)
    waves: tuple[tuple[float, float], tuple[float, float]]  # (radians per x-height, phase) of the two bends


@functools.lru_cache(maxsize=8192)
def letter_habit(seed: int, strength: float, char: str) -> LetterHabit:
    letter = random.Random(f"{seed}:{char}")
    return LetterHabit(
        stretch_x=1 + strength * letter.gauss(0, 0.1), stretch_y=1 + strength * letter.gauss(0, 0.08),
        lean=strength * letter.gauss(0, 0.12), size=1 + strength * letter.gauss(0, 0.06),
        rise=strength * letter.gauss(0, 0.05),
        waves=((letter.uniform(0.5, 1.5) * np.pi, letter.uniform(0, 2 * np.pi)),
               (letter.uniform(0.5, 1.5) * np.pi, letter.uniform(0, 2 * np.pi))),
    )


def _shear(image: Image.Image, baseline: int, slant: float) -> tuple[Image.Image, int]:
    """Lean the word by `slant` around its baseline; returns the image and the baseline origin's shift."""
    width, height = image.size
    # x_out = x_in + slant * (baseline - y): the top moves right for a positive slant.
    shifts = (slant * baseline, slant * (baseline - height))
    low, high = min(*shifts, 0.0), max(*shifts, 0.0)
    size = (int(np.ceil(width + high - low)) + 1, height)
    sheared = image.transform(size, Image.Transform.AFFINE, (1, slant, low - slant * baseline, 0, 1, 0), Image.Resampling.BILINEAR)
    return sheared, int(round(low))


def _wobble(mask: np.ndarray, amplitude: float, x_height: float, rng: random.Random) -> np.ndarray:
    """Bend a word with a smooth random displacement field, so no two copies of a letter are alike.

    Vertical shifts vary along the line (letters ride up and down, grow and shrink); horizontal
    shifts vary with height (the local slant changes). Bilinear sampling, in numpy.
    """
    amplitude = min(amplitude, WOBBLE_MARGIN - 1.0)
    padded = np.pad(mask.astype(np.float32), WOBBLE_MARGIN)
    height, width = padded.shape
    ys, xs = np.arange(height, dtype=np.float32)[:, None], np.arange(width, dtype=np.float32)[None, :]

    def wave(coordinate: np.ndarray) -> np.ndarray:
        period = rng.uniform(1.2, 3.0) * x_height
        return amplitude * rng.uniform(0.5, 1.0) * np.sin(coordinate * (2 * np.pi / period) + rng.uniform(0, 2 * np.pi))
    source_y = ys + wave(xs) + 0.5 * wave(xs)  # (H, W) by broadcasting
    source_x = xs + wave(ys)  # (H, W)
    y0 = np.clip(np.floor(source_y).astype(np.int64), 0, height - 2)
    x0 = np.clip(np.floor(source_x).astype(np.int64), 0, width - 2)
    fy, fx = np.clip(source_y - y0, 0, 1), np.clip(source_x - x0, 0, 1)
    top = padded[y0, x0] * (1 - fx) + padded[y0, x0 + 1] * fx
    bottom = padded[y0 + 1, x0] * (1 - fx) + padded[y0 + 1, x0 + 1] * fx
    return (top * (1 - fy) + bottom * fy).astype(np.uint8)
