"""What fonts lack (issue 33, part 3): a hand never writes a letter, a word or a line the same way twice.

Each is behind a flag of its own, off by default, and makes a tree of its own (its name says which):
- `--iam_rendered_glyph_variants=N`: each writer has N variants of every letter (a lasting stretch,
  lean, size and rise, or bend of Hershey strokes) and picks one per occurrence. Letter-by-letter faces
  and Hershey fonts only: joined-up TrueType faces are drawn a word at a time (their letters must meet).
- `--iam_rendered_baseline_wave=A`: the baseline rises and falls along a line by up to A x-heights.
- `--iam_rendered_word_variation=S`: words vary more in size and slant (S=1: about 7% and 3 degrees).
- `--iam_rendered_pressure=P`: the stroke broadens and thins along a word (pen pressure), P from 0 to 1.
- `--iam_rendered_pens`: each writer holds a pen: a thin ballpoint (broad strokes thinned), a felt tip
  (broadened, soft edges) or a grainy pencil (lighter, broken by the paper's grain).
None is yet shown to help: a flag is kept only if the unseen-family curve says so (not measured: no
training run has used them).
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import random
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont

PENS = ("ballpoint", "felt", "pencil")
MAX_GLYPH_VARIANTS = 8
VARIANT_STRENGTH = 0.5  # how far a variant departs from the font's letter (1: about a tenth of the x-height)


@dataclasses.dataclass(frozen=True)
class Realism:
    """The flags above, as the options of a tree (RenderOptions.realism)."""

    glyph_variants: int = 0
    baseline_wave: float = 0.0
    word_variation: float = 0.0
    pressure: float = 0.0
    pens: bool = False

    def __post_init__(self):
        if not (0 <= self.glyph_variants <= MAX_GLYPH_VARIANTS and 0 <= self.baseline_wave <= 1
                and 0 <= self.word_variation <= 3 and 0 <= self.pressure <= 1):
            raise ValueError(f"out of range: {self} (--iam_rendered_glyph_variants 0-{MAX_GLYPH_VARIANTS}, "
                             "--iam_rendered_baseline_wave 0-1, --iam_rendered_word_variation 0-3, --iam_rendered_pressure 0-1)")

    def suffix(self) -> str:
        """'' when all off (the trees made before them), else e.g. '_gv3_bw0.2_pens'."""
        parts = [f"gv{self.glyph_variants}" if self.glyph_variants else "",
                 f"bw{self.baseline_wave:g}" if self.baseline_wave else "", f"wv{self.word_variation:g}" if self.word_variation else "",
                 f"pr{self.pressure:g}" if self.pressure else "", "pens" if self.pens else ""]
        return "".join(f"_{part}" for part in parts if part)

    def writer_fields(self, rng: random.Random) -> dict:
        """One writer's share of them (Writer fields), drawn from an RNG of the writer's own."""
        if self == Realism():
            return {}
        return {"glyph_variants": self.glyph_variants, "variant_seed": rng.randrange(2**31),
                "baseline_wave": self.baseline_wave * rng.uniform(0.5, 1.0), "word_variation": self.word_variation,
                "pressure": self.pressure * rng.uniform(0.5, 1.0), "pen": rng.choice(PENS) if self.pens else ""}

    @staticmethod
    def add_to_argparse(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--iam_rendered_glyph_variants", type=int, default=0,
                            help="offline source: variants of each letter per writer, one picked per occurrence (0: off)")
        parser.add_argument("--iam_rendered_baseline_wave", type=float, default=0.0,
                            help="offline source: the baseline's rise and fall along a line, in x-heights (0: off)")
        parser.add_argument("--iam_rendered_word_variation", type=float, default=0.0,
                            help="offline source: more size and slant change from word to word (0: off; 1: 7%%, 3 degrees)")
        parser.add_argument("--iam_rendered_pressure", type=float, default=0.0,
                            help="offline source: stroke width varying along a word, 0-1 (0: off)")
        parser.add_argument("--iam_rendered_pens", action="store_true",
                            help="offline source: each writer holds a ballpoint, a felt tip or a pencil")

    @classmethod
    def from_args(cls, args: dict) -> Realism:
        return cls(**{field.name: args.get(f"iam_rendered_{field.name}", field.default) for field in dataclasses.fields(cls)})


class Variant(NamedTuple):
    stretch_x: float
    shear: float  # x per unit of height above the baseline
    size: float
    rise: float  # in x-heights, positive up


def variant(seed: int, index: int, char: str) -> Variant:
    """The `index`-th way a writer writes `char`: the same every time that variant is picked."""
    letter = random.Random(f"{seed}:{index}:{char}")
    return Variant(1 + VARIANT_STRENGTH * letter.gauss(0, 0.1), VARIANT_STRENGTH * letter.gauss(0, 0.12),
                   1 + VARIANT_STRENGTH * letter.gauss(0, 0.06), VARIANT_STRENGTH * letter.gauss(0, 0.05))


def draw_variant(image: Image.Image, xy: tuple[float, float], char: str, font: ImageFont.FreeTypeFont,
                 shape: Variant, stroke: int) -> float:
    """Draw one letter (baseline-left at `xy`) stretched and leaned by `shape` onto `image`; returns its advance."""
    size = int(font.size)  # Pillow types it a float; the faces are loaded at whole sizes
    margin = size  # room for the lean and the stroke on every side
    letter = Image.new("L", (int(font.getlength(char)) + 2 * margin, 2 * size + 2 * margin), 0)
    origin = (margin, int(1.4 * size) + margin)
    ImageDraw.Draw(letter).text(origin, char, fill=255, font=font, anchor="ls", stroke_width=stroke, stroke_fill=255)
    # Output pixel (u, v) reads input (x, y): x = ox + ((u - ox) - shear * (oy - v)) / stretch, y = v.
    a = 1 / shape.stretch_x
    letter = letter.transform(letter.size, Image.Transform.AFFINE,
                              (a, a * shape.shear, origin[0] - a * origin[0] - a * shape.shear * origin[1], 0, 1, 0),
                              Image.Resampling.BILINEAR)
    left, top = round(xy[0] - origin[0]), round(xy[1] - origin[1])
    region = (left, top, left + letter.width, top + letter.height)
    canvas = image.crop(region)  # beyond the image: black, and cut off again on pasting back
    image.paste(ImageChops.lighter(canvas, letter), region)
    return font.getlength(char) * shape.stretch_x


def baseline_wave(amplitude: float, x_height: float, rng: random.Random) -> Callable[[float], float]:
    """The baseline's offset (pixels, y down) at x along one line: one slow wave of random phase."""
    period, phase = rng.uniform(15, 40) * x_height, rng.uniform(0, 2 * math.pi)
    return lambda x: amplitude * x_height * math.sin(2 * math.pi * x / period + phase)


def ink(mask: np.ndarray, pressure: float, pen: str, x_height: float, rng: random.Random) -> np.ndarray:
    """The word's ink as a pen leaves it: pressure along the word and the pen's kind. Adds a pixel of
    margin on every side (the caller shifts its offsets by one)."""
    image = Image.fromarray(np.pad(mask, 1))
    wider, thinner = np.asarray(image.filter(ImageFilter.MaxFilter(3)), np.float32), np.asarray(image.filter(ImageFilter.MinFilter(3)), np.float32)
    out = np.asarray(image, np.float32)
    if pen == "ballpoint":  # thin broad strokes only: where an opening keeps ink, the stroke is 3 px or more
        opened = np.asarray(Image.fromarray(thinner.astype(np.uint8)).filter(ImageFilter.MaxFilter(3)), np.float32)
        out = np.where(opened > 128, thinner, out)
    elif pen == "felt":
        out = np.asarray(Image.fromarray(wider.astype(np.uint8)).filter(ImageFilter.GaussianBlur(0.6)), np.float32)
    if pressure:
        columns = np.arange(out.shape[1], dtype=np.float32)
        weight = pressure * np.sin(2 * np.pi * columns / (rng.uniform(2, 4) * x_height) + rng.uniform(0, 2 * np.pi))
        out = out + np.clip(weight, 0, 1) * (wider - out) + np.clip(-weight, 0, 1) * (thinner - out)
    if pen == "pencil":  # graphite catches the paper's grain: lighter, broken strokes
        grain = np.random.default_rng(rng.randrange(2**32)).random(out.shape, dtype=np.float32)
        out = out * (0.35 + 0.45 * grain)
    return np.clip(out, 0, 255).astype(np.uint8)
