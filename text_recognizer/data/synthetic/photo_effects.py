"""Phone photos of clean pages: paper, rulings, ink colour, light, a desk, perspective, focus, noise, JPEG.

`photograph(page, seed)` turns a clean white-ink-on-black page (an offline-source crop) into the RGB
photo a phone would take of it written on a sheet: deterministic for a seed. The photo test set
(`evaluate_model --photos`) and the training augmentation (`--photo_augment`) both come from here.

    python -m text_recognizer.data.synthetic.photo_effects --output data/photos --count 20

writes the offline source's first test pages as photo JPEGs with their texts (.txt beside each).
"""
from __future__ import annotations

import argparse
import io
import math
import random
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from text_recognizer.stems.page_normalize import map_box, normalize_page
from text_recognizer.stems.paragraph_core import estimate_line_pitch, rescale

PAPERS = {"white": (246, 246, 242), "cream": (250, 241, 214), "gray": (228, 229, 226), "yellow": (252, 246, 190)}
INKS = {"black": (28, 28, 34), "blue": (28, 52, 150), "dark blue": (22, 30, 92), "pencil": (88, 88, 96)}
DESKS = {"wood": (120, 84, 52), "dark": (40, 40, 46), "gray": (96, 98, 104), "light wood": (168, 132, 92)}
RULING_BLUE, MARGIN_RED, GRID_GRAY = (150, 185, 225), (225, 120, 130), (170, 175, 185)


@dataclass(frozen=True)
class PhotoOptions:
    """The ranges the photos are drawn from (the photo issue's list, and a little more)."""

    width: tuple[int, int] = (3000, 4000)  # px of the photo
    sheet_share: tuple[float, float] = (0.6, 0.85)  # of the photo's width taken by the sheet
    perspective_degrees: float = 10.0  # tilt of the camera (a corner's displacement, as an angle)
    rotation_degrees: float = 4.0
    jpeg_quality: tuple[int, int] = (50, 90)
    defocus: tuple[float, float] = (0.0, 1.6)  # Gaussian sigma at the photo's size
    noise: tuple[float, float] = (2.0, 7.0)  # sensor noise, levels (std)
    gradient: tuple[float, float] = (0.55, 1.0)  # darkest corner's light against the brightest
    vignette: tuple[float, float] = (0.0, 0.35)
    white_balance: float = 0.12  # each channel's gain within 1 +- this
    shadow_probability: float = 0.5  # a hand's or phone's soft shadow over part of the sheet
    sheet_scale: float | None = None  # the page's enlargement onto the sheet; None: from `width` and `sheet_share`


def _smooth_noise(rng: np.random.Generator, height: int, width: int, cells: int) -> np.ndarray:
    """Low-frequency noise in [-1, 1] of about `cells` blobs across: paper fibre, desk grain, pencil grain."""
    small = rng.uniform(-1, 1, (max(2, cells * height // max(width, 1)), cells)).astype(np.float32)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC).clip(-1, 1)


def _draw_rulings(sheet: np.ndarray, rng: np.random.Generator, pitch: float, kind: str) -> None:
    height, width = sheet.shape[:2]
    thickness = max(1, round(pitch / 40))
    if kind == "ruled":
        offset = rng.uniform(0, pitch)
        for y in np.arange(offset, height, pitch):
            cv2.line(sheet, (0, round(y)), (width, round(y)), RULING_BLUE, thickness, cv2.LINE_AA)
        if rng.random() < 0.7:
            x = round(rng.uniform(0.03, 0.08) * width)
            cv2.line(sheet, (x, 0), (x, height), MARGIN_RED, thickness + 1, cv2.LINE_AA)
    elif kind == "squared":
        step = pitch / 2
        colour = GRID_GRAY if rng.random() < 0.5 else RULING_BLUE
        for y in np.arange(rng.uniform(0, step), height, step):
            cv2.line(sheet, (0, round(y)), (width, round(y)), colour, thickness, cv2.LINE_AA)
        for x in np.arange(rng.uniform(0, step), width, step):
            cv2.line(sheet, (round(x), 0), (round(x), height), colour, thickness, cv2.LINE_AA)


def _sheet(page: np.ndarray, rng: np.random.Generator, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """The page's ink written on a sheet of paper (RGB float32), margins around it, at `scale`; and the
    3x3 matrix from the page's pixels to the sheet's."""
    margin = rng.uniform(0.08, 0.2, 4)
    background = float(np.median(page))  # the crop's own paper level (about 10): not ink
    page = ((page.astype(np.float32) - background).clip(0) * (255 / (255 - background))).astype(np.uint8)
    height, width = page.shape
    pad = [round(m * max(height, width)) for m in margin]
    canvas = np.pad(page, ((pad[0], pad[1]), (pad[2], pad[3])))
    size = (round(canvas.shape[1] * scale), round(canvas.shape[0] * scale))
    ink = cv2.resize(canvas.astype(np.float32) / 255, size, interpolation=cv2.INTER_CUBIC).clip(0, 1)
    paper = np.array(PAPERS[rng.choice(list(PAPERS))], np.float32)
    sheet = np.empty((*ink.shape, 3), np.float32)
    sheet[:] = paper
    sheet *= 1 + 0.03 * _smooth_noise(rng, ink.shape[0], ink.shape[1], 24)[..., None]
    pitch = (estimate_line_pitch(Image.fromarray(page)) or 50.0) * scale
    _draw_rulings(sheet, rng, pitch, str(rng.choice(["plain", "ruled", "ruled", "squared"])))
    ink_name = str(rng.choice(list(INKS)))
    alpha = ink * rng.uniform(0.85, 1.0)
    if ink_name == "pencil":  # graphite: lighter, grainy along the strokes
        grain = rng.uniform(0.45, 1.0, ink.shape).astype(np.float32)
        alpha = alpha * rng.uniform(0.55, 0.8) * cv2.GaussianBlur(grain, (0, 0), 0.8)
    colour = np.array(INKS[ink_name], np.float32)
    page_to_sheet = np.array([[size[0] / canvas.shape[1], 0, pad[2] * size[0] / canvas.shape[1]],
                              [0, size[1] / canvas.shape[0], pad[0] * size[1] / canvas.shape[0]], [0, 0, 1]])
    return sheet * (1 - alpha[..., None]) + colour * alpha[..., None], page_to_sheet


def photograph(page: Image.Image, seed: int, options: PhotoOptions = PhotoOptions()) -> Image.Image:
    """A phone photo (RGB, after a JPEG round trip) of `page` (white ink on black, 8-bit) written on a
    sheet lying on a desk. The same page and seed give the same photo."""
    return photograph_with_geometry(page, seed, options)[0]


def photograph_with_geometry(page: Image.Image, seed: int, options: PhotoOptions = PhotoOptions()) -> tuple[Image.Image, np.ndarray]:
    """`photograph`, and the 3x3 matrix from the page's pixels to the photo's (homogeneous)."""
    rng = np.random.default_rng(seed)
    ink = np.asarray(page.convert("L"))
    photo_width = int(rng.integers(*options.width, endpoint=True))
    share = rng.uniform(*options.sheet_share)
    probe_width = ink.shape[1] * (1 + 0.28)  # about the sheet's width in page pixels (margins)
    sheet, page_to_sheet = _sheet(ink, rng, options.sheet_scale or photo_width * share / probe_width)
    sheet_height, sheet_width = sheet.shape[:2]
    if options.sheet_scale:
        photo_width = int(sheet_width / share)
    photo_height = int(sheet_height / share if options.sheet_scale else max(sheet_height / share, photo_width * 0.6))
    # The desk: a colour with grain, the sheet on it under a random perspective and rotation.
    desk = np.empty((photo_height, photo_width, 3), np.float32)
    desk[:] = DESKS[rng.choice(list(DESKS))]
    desk *= 1 + 0.12 * _smooth_noise(rng, photo_height, photo_width, 40)[..., None]
    corners = np.array([[0, 0], [sheet_width, 0], [sheet_width, sheet_height], [0, sheet_height]], np.float32)
    tilt = math.tan(math.radians(options.perspective_degrees)) / 2
    moved = corners + rng.uniform(-tilt, tilt, (4, 2)).astype(np.float32) * [sheet_width, sheet_height] * 0.5
    angle = math.radians(rng.uniform(-options.rotation_degrees, options.rotation_degrees))
    centre = moved.mean(axis=0)
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]], np.float32)
    moved = (moved - centre) @ rotation.T + np.array([photo_width / 2, photo_height / 2], np.float32)
    moved += rng.uniform(-0.04, 0.04, 2).astype(np.float32) * [photo_width, photo_height]
    matrix = cv2.getPerspectiveTransform(corners, moved.astype(np.float32))
    size = (photo_width, photo_height)
    warped = cv2.warpPerspective(sheet, matrix, size, flags=cv2.INTER_LINEAR)
    mask = cv2.warpPerspective(np.ones((sheet_height, sheet_width), np.float32), matrix, size, flags=cv2.INTER_LINEAR)
    photo = desk * (1 - mask[..., None]) + warped * mask[..., None]
    photo = _light(photo, rng, options)
    photo *= (1 + rng.uniform(-options.white_balance, options.white_balance, 3)).astype(np.float32)
    sigma = rng.uniform(*options.defocus)
    if sigma > 0.3:
        photo = cv2.GaussianBlur(photo, (0, 0), sigma)
    photo += rng.standard_normal(photo.shape, dtype=np.float32) * np.float32(rng.uniform(*options.noise))
    encoded = io.BytesIO()
    quality = int(rng.integers(*options.jpeg_quality, endpoint=True))
    Image.fromarray(photo.clip(0, 255).astype(np.uint8)).save(encoded, "JPEG", quality=quality)
    return Image.open(io.BytesIO(encoded.getvalue())).convert("RGB"), matrix @ page_to_sheet


def _light(photo: np.ndarray, rng: np.random.Generator, options: PhotoOptions) -> np.ndarray:
    """Uneven light: a gradient in a random direction, a vignette, maybe a soft shadow."""
    height, width = photo.shape[:2]
    ys, xs = np.mgrid[0:height:8, 0:width:8].astype(np.float32)
    ys, xs = ys / height - 0.5, xs / width - 0.5
    direction = rng.uniform(0, 2 * math.pi)
    along = xs * math.cos(direction) + ys * math.sin(direction)  # -0.7 .. 0.7
    darkest = rng.uniform(*options.gradient)
    light = 1 - (1 - darkest) * (along + 0.71) / 1.42
    light *= 1 - rng.uniform(*options.vignette) * (xs**2 + ys**2) * 2
    if rng.random() < options.shadow_probability:  # an ellipse from one edge, blurred: a hand, a phone
        shadow = np.zeros(light.shape, np.float32)
        centre = (int(rng.uniform(0, 1) * light.shape[1]), int(rng.choice([0, light.shape[0]])))
        axes = (int(rng.uniform(0.15, 0.35) * light.shape[1]), int(rng.uniform(0.2, 0.45) * light.shape[0]))
        cv2.ellipse(shadow, centre, axes, rng.uniform(0, 180), 0, 360, 1.0, -1)
        shadow = cv2.GaussianBlur(shadow, (0, 0), light.shape[1] / 40)
        light *= 1 - rng.uniform(0.3, 0.55) * shadow
    light = cv2.resize(light, (width, height), interpolation=cv2.INTER_LINEAR)
    return photo * light[..., None]


PHOTO_AUGMENT = 0.0  # share of training samples seen as photos; off: the recorded recipes ran without it
PHOTO_AUGMENT_SCALE = (1.0, 2.0)  # a training crop's enlargement onto the photographed sheet


class PhotoAugment:
    """Training augmentation: with probability `probability`, a crop (white ink on black) is written on
    a sheet, photographed (`photograph`, at 1-2x its size rather than a phone's 3,000 px, to stay cheap)
    and normalized back (stems/page_normalize.py) at its own scale: the model learns from what the
    recognizer gives it when a user's photo comes in. A crop that normalizes to no ink is kept as it was."""

    def __init__(self, probability: float) -> None:
        if not 0 <= probability <= 1:
            raise ValueError(f"--photo_augment must be a probability between 0 and 1, got {probability}")
        self.probability = probability

    def __call__(self, image: Image.Image) -> Image.Image:
        if random.random() >= self.probability:
            return image
        scale = random.uniform(*PHOTO_AUGMENT_SCALE)
        photo, page_to_photo = photograph_with_geometry(image, random.getrandbits(32),
                                                        PhotoOptions(sheet_scale=scale, width=(0, 0)))
        normalized = normalize_page(photo)
        if not normalized.image.getbbox():
            return image
        # The crop's own frame, found again on the normalized page (the sheet's margins are not the crop's).
        top, bottom, left, right = map_box(np.linalg.inv(normalized.to_original) @ page_to_photo,
                                           (0, image.height, 0, image.width))
        frame = normalized.image.crop((left, top, right, bottom))
        return rescale(frame, 1 / scale, Image.Resampling.BILINEAR)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(probability={self.probability:g}, scale={PHOTO_AUGMENT_SCALE})"


def photo_augment(args: dict) -> PhotoAugment | None:
    """The data modules' PhotoAugment from their flags; None when --photo_augment is 0."""
    probability = float(args.get("photo_augment", PHOTO_AUGMENT))
    return PhotoAugment(probability) if probability else None


def probability_flag(text: str) -> float:
    """--photo_augment's argparse type: a number from 0 to 1, refused at the command line otherwise."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be a probability between 0 and 1, got {text}")
    return value


def add_photo_augment_flag(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument(
        "--photo_augment", type=probability_flag, default=PHOTO_AUGMENT,
        help="training augmentation: the share of training samples written on paper, photographed and normalized "
        "back, as a user's phone photo is read (0: off)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    from text_recognizer.data.iam_paragraphs import IAMParagraphs
    from text_recognizer.vocabulary import convert_labels_to_strings

    parser = argparse.ArgumentParser(description="Write the offline source's test pages as phone photos (JPEG + .txt).")
    IAMParagraphs.add_to_argparse(parser)
    parser.add_argument("--output", required=True, help="folder to write NAME.jpg and NAME.txt into")
    parser.add_argument("--split", choices=["train", "val", "test"], default="test")
    parser.add_argument("--count", type=int, default=20, help="pages (the first ones of the split)")
    parser.add_argument("--quality", type=int, default=92, help="JPEG quality of the written files")
    args = parser.parse_args(argv)
    data = IAMParagraphs(args)
    data.prepare_data()
    data.setup()
    dataset = getattr(data, f"data_{args.split}")
    count = min(args.count, len(dataset))
    texts = convert_labels_to_strings(dataset.labels[:count], data.mapping)
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    for index, (filename, text) in enumerate(zip(dataset.filenames[:count], texts)):
        with Image.open(filename) as page:
            photo = photograph(page, seed=index)
        name = Path(filename).stem
        photo.save(output / f"{name}.jpg", quality=args.quality)
        (output / f"{name}.txt").write_text(text + "\n")
    print(f"wrote {count} photos of {args.split} pages to {output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
