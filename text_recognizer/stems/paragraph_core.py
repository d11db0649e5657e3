"""Paragraph preprocessing without torch: PIL -> PIL -> float32 numpy, and the batch padding.

The non-augmented half of ParagraphStem (stems/paragraph.py) and the batch geometry of `pad_batch`
live here so that the ONNX backend of the recognizer (no torch installed) runs the same code as
evaluation and the torch backend: `EvaluationTransform` is ParagraphStem(augment=False)'s PIL
pipeline and `to_array` its conversion to [0, 1].
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageOps

from text_recognizer.metadata import iam_paragraphs as metadata
from text_recognizer.util import to_grayscale

SIZE_MULTIPLE = 32  # ResNet's stride: a padded batch is a whole number of feature-map cells
# The line pitch (baseline to baseline) inference rescales every page to. The training paragraphs'
# pitch runs from 28 to 54 px (5th-95th percentile, estimate_line_pitch on 300 training paragraphs of
# the offline source; IAM's halved crops are alike). Through the recognizer, 24 unseen-writer test
# paragraphs at 0.75x-3x read alike at any one fixed pitch (spread <= 0.03), where leaving pages inside
# that range untouched read small hands worst (0.65 at 0.75x against 0.48 at 1x); of the targets
# 42, 48, 52, 56 and 64 px, 48 read best (docs/measurements.md, "Handwriting at any scale").
TARGET_LINE_PITCH = 48.0
# --line_pitch reads everything smaller, to save the ResNet's pixels: training crops are rescaled by
# line_pitch / TARGET_LINE_PITCH (the native crops read best at 48) and inference matches line_pitch.
# Below 16 px a line is half a feature-map row and letters a few pixels tall.
MIN_LINE_PITCH = 16.0
MIN_PERIODICITY = 0.25  # autocorrelation peak of the row profile that counts as lines repeating
MIN_INK_CONTRAST = 32 / 255  # the brightest pixels this far above the median (of the full range) are ink
CORE_TO_PITCH = 3.4  # one line: pitch / height of its densest band (measured as above, 10-90%: 2.7-4.3)


def rescale(image: Image.Image, scale: float, resample: Image.Resampling | None = None) -> Image.Image:
    """The image with both sides times `scale` (at least a pixel each). By default BOX when shrinking
    (no aliasing, for inputs of any resolution) and BILINEAR when enlarging."""
    if scale == 1:
        return image
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    if resample is None:
        resample = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR
    return image.resize(size, resample=resample)


class FitInside:
    """Scale an image down, keeping its aspect ratio, until it fits in `height` x `width`.

    Images that already fit are returned unchanged (never enlarged): the model sees handwriting at
    the scale it was trained on, and a large photo is shrunk rather than cropped (cropping would
    silently drop lines that are still in the label).
    """

    def __init__(self, height: int, width: int) -> None:
        self.height, self.width = height, width

    def __call__(self, image: Image.Image) -> Image.Image:
        width, height = image.size
        scale = min(self.width / width, self.height / height)
        if scale >= 1:
            return image
        size = (max(1, min(self.width, round(width * scale))), max(1, min(self.height, round(height * scale))))
        return image.resize(size, resample=Image.Resampling.BILINEAR)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(height={self.height}, width={self.width})"


def _ink_rows(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(ink mask, ink per row) of white ink on black, 8-bit or in [0, 1]; None when there is no ink worth
    the name."""
    pixels = pixels.astype(np.float32)
    background, ink = np.median(pixels), np.percentile(pixels, 99.5)
    full_scale = 255.0 if pixels.max() > 1 else 1.0  # 8-bit, or [0, 1]
    if ink - background < MIN_INK_CONTRAST * full_scale:
        return None
    mask = pixels > (background + ink) / 2
    profile = mask.sum(axis=1).astype(np.float64)
    return (mask, profile) if profile.any() else None


def _pitch_of_profile(profile: np.ndarray) -> float:
    """Several lines: the first strong peak of the profile's autocorrelation. One or two lines (too few
    to repeat): CORE_TO_PITCH times the height of the tallest run of rows holding at least 30% of the
    busiest row's ink, the core of one line (counting every such row gave two lines double the pitch)."""
    rows = np.flatnonzero(profile)
    centred = profile - profile.mean()
    n = len(centred)
    correlation = np.correlate(centred, centred, "full")[n - 1 :] / (centred @ centred + 1e-9)
    below_zero = np.flatnonzero(correlation < 0)
    if below_zero.size and below_zero[0] < n // 2:
        start = int(below_zero[0])
        window = correlation[start : n // 2 + 1]
        peaks = [i for i in range(1, len(window) - 1) if window[i - 1] <= window[i] >= window[i + 1]]
        strong = [i for i in peaks if window[i] >= MIN_PERIODICITY]
        if strong:
            best = max(window[i] for i in strong)
            lag = start + next(i for i in strong if window[i] >= 0.6 * best)  # the fundamental, not a multiple
            if (rows[-1] - rows[0] + 1) >= 1.8 * lag:  # at least about two lines of ink
                return float(lag)
    core = np.concatenate(([0], profile >= 0.3 * profile.max(), [0])).astype(np.int8)
    starts, ends = np.flatnonzero(np.diff(core) == 1), np.flatnonzero(np.diff(core) == -1)
    return CORE_TO_PITCH * float((ends - starts).max())


def estimate_line_pitch(image: Image.Image) -> float | None:
    """Baseline-to-baseline distance of the handwriting in pixels (white ink on black); None when blank.

    Measured on the row ink profile (`_pitch_of_profile`), so it scales with the image: a measure of
    the handwriting's size.
    """
    ink = _ink_rows(np.asarray(image.convert("L")))
    return None if ink is None else _pitch_of_profile(ink[1])


# How a model reads a page (its data config's "read_by"): whole, or one line at a time, each line cut
# out by `line_boxes` (models trained on single lines only: --curriculum=0:1).
READ_BY_PAGE, READ_BY_LINES = "page", "lines"
READ_BY = (READ_BY_PAGE, READ_BY_LINES)
# How such a model's lines are decoded: by its line CTC head (one pass, nothing to loop), by the
# attention decoder, or jointly (both read, both score, the likelier text stays: joint_decoding.py).
LINE_DECODING_CTC, LINE_DECODING_ATTENTION, LINE_DECODING_JOINT = "ctc", "attention", "joint"
LINE_DECODINGS = (LINE_DECODING_CTC, LINE_DECODING_ATTENTION, LINE_DECODING_JOINT)
LINE_DECODINGS_WITH_CTC = (LINE_DECODING_CTC, LINE_DECODING_JOINT)  # those that need the line CTC head

# Line splitting. A cut is the emptiest row, smoothed over a
# quarter pitch, between these fractions of a pitch below the previous cut (the first: below the
# top of the ink). On the offline source's pages it finds every line of the 265 validation
# paragraphs and of 274 of the 275 test ones (docs/training.md, "The shipped model").
CUT_SEARCH = (0.6, 1.4)
FIRST_CUT_SEARCH = (0.5, 1.5)
MIN_LINE_INK = 0.02  # a band with less of the page's ink is a stray stroke, not a line
# A line is read in its ink's box grown by this many pitches on every side, as training's line crops
# are (the words' boxes and a margin). Chosen on 32 validation paragraphs read by a line model's CTC
# head: margins of 0.1 / 0.2 / 0.3 pitches 0.244 / 0.226 / 0.241 standard CER, boxes 1.0 / 1.3 pitches
# tall about the ink 0.237 / 0.244; lines cut to their ink alone made its decoder loop (docs/training.md, "The shipped model").
LINE_MARGIN_PITCHES = 0.2


def line_boxes(pixels: np.ndarray) -> list[tuple[int, int, int, int]]:
    """(top, bottom, left, right) of each line of handwriting in a 2-D white-ink-on-black array, top to
    bottom, each the bounding box of its band's ink grown by LINE_MARGIN_PITCHES on every side (it
    may reach beyond the page: crop it onto black); [] when the page has no ink."""
    ink = _ink_rows(pixels)
    if ink is None:
        return []
    mask, profile = ink
    pitch = _pitch_of_profile(profile)
    rows = np.flatnonzero(profile)
    width = max(3, int(pitch / 4)) | 1
    smooth = np.convolve(profile, np.ones(width) / width, mode="same")
    cuts = [int(rows[0])]
    low, high = (int(rows[0] + f * pitch) for f in FIRST_CUT_SEARCH)
    while low <= rows[-1]:
        high = min(high, len(smooth) - 1)
        cut = low + int(np.argmin(smooth[low : high + 1]))
        cuts.append(cut)
        low, high = (int(cut + f * pitch) for f in CUT_SEARCH)
    cuts.append(int(rows[-1]) + 1)
    boxes = []
    total, margin = mask.sum(), round(LINE_MARGIN_PITCHES * pitch)
    for top, bottom in zip(cuts[:-1], cuts[1:]):
        band = mask[top:bottom]
        if band.sum() < MIN_LINE_INK * total:
            continue
        ink_rows, ink_columns = np.flatnonzero(band.any(axis=1)), np.flatnonzero(band.any(axis=0))
        boxes.append((top + int(ink_rows[0]) - margin, top + int(ink_rows[-1]) + 1 + margin,
                      int(ink_columns[0]) - margin, int(ink_columns[-1]) + 1 + margin))
    return boxes


def split_lines(image: Image.Image, boxes: Sequence[tuple[int, int, int, int]] | None = None) -> list[Image.Image]:
    """The lines of a white-ink-on-black page, top to bottom: `boxes` (by default `line_boxes`'s) cut out,
    black beyond the page; none when the page has no ink (a blank page reads as no text)."""
    if boxes is None:
        boxes = line_boxes(np.asarray(image.convert("L")))
    return [image.crop((left, top, right, bottom)) for top, bottom, left, right in boxes]


# MatchTrainingScale resamples bilinearly (Pillow's filter widens with the shrink, so no aliasing), as
# training's scale augmentation does. BOX shrinking by factors near 1 (an unseen page at 51 px: 0.94)
# left ragged strokes: at 0.75x / 1x / 1.5x / 2x / 3x, the lab-8 paragraphs (tests/test_shipped_model.py)
# read jointly 0.165 / 0.192 / 0.163 / 0.160 / 0.168 with BOX, 0.165 / 0.156 / 0.156 / 0.149 / 0.160
# bilinear; 20 test paragraphs 0.129 / 0.131 / 0.120 / 0.121 / 0.120 and 0.129 / 0.122 / 0.119 / 0.119 /
# 0.121. (Lanczos read alike; no rescale within the augmentation's 0.87-1.15 read worse; a light Gaussian
# blur after the rescale, radius 0.4-0.6, read worse jointly.)
MATCH_RESAMPLE = Image.Resampling.BILINEAR


class MatchTrainingScale:
    """Rescale a page so that its handwriting's line pitch is the model's (inference only).

    Photos and scans come at any resolution; the model reads one size of handwriting best. Pages
    with no measurable ink are returned unchanged.
    """

    def __init__(self, line_pitch: float = TARGET_LINE_PITCH) -> None:
        self.line_pitch = line_pitch

    def __call__(self, image: Image.Image) -> Image.Image:
        pitch = estimate_line_pitch(image)
        if pitch is None:
            return image
        return rescale(image, self.line_pitch / pitch, MATCH_RESAMPLE)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(target_line_pitch={self.line_pitch:g})"


def check_line_pitch(line_pitch: float) -> float:
    """--line_pitch, checked: a pitch the ResNet can still resolve, at most the native one's."""
    if not MIN_LINE_PITCH <= line_pitch <= TARGET_LINE_PITCH:
        raise ValueError(
            f"--line_pitch must be between {MIN_LINE_PITCH:g} and {TARGET_LINE_PITCH:g} pixels, got {line_pitch:g}"
        )
    return float(line_pitch)


def center_on_canvas(image: Image.Image, height: int, width: int) -> Image.Image:
    """An image that fits pasted at the centre of a black height x width canvas (torchvision's CenterCrop
    of a smaller image: the extra pixel of an odd margin goes right and bottom)."""
    if image.width > width or image.height > height:
        raise ValueError(f"a {image.width}x{image.height} image does not fit a {width}x{height} canvas")
    canvas = Image.new(image.mode, (width, height), 0)
    canvas.paste(image, ((width - image.width) // 2, (height - image.height) // 2))
    return canvas


class EvaluationTransform:
    """ParagraphStem(augment=False)'s PIL pipeline: MatchTrainingScale (or the --line_pitch rescale of a
    native crop), FitInside, [the fixed canvas]."""

    def __init__(
        self,
        fixed_canvas: bool = False,
        match_scale: bool = False,
        image_shape: tuple[int, int] = metadata.IMAGE_SHAPE,
        line_pitch: float = TARGET_LINE_PITCH,
    ) -> None:
        self.fixed_canvas, self.image_shape = fixed_canvas, image_shape
        self.line_pitch = check_line_pitch(line_pitch)
        self.match = MatchTrainingScale(self.line_pitch) if match_scale else None
        self.fit = FitInside(*image_shape)

    def __call__(self, image: Image.Image) -> Image.Image:
        if self.match is not None:
            image = self.match(image)
        else:
            image = rescale(image, self.line_pitch / TARGET_LINE_PITCH)
        image = self.fit(image)
        return center_on_canvas(image, *self.image_shape) if self.fixed_canvas else image

    def __repr__(self) -> str:
        if self.match is not None:
            steps = [repr(self.match)]
        else:
            steps = [] if self.line_pitch == TARGET_LINE_PITCH else [f"rescale({self.line_pitch / TARGET_LINE_PITCH:g})"]
        steps.append(repr(self.fit))
        if self.fixed_canvas:
            steps.append(f"center_on_canvas{self.image_shape}")
        return f"{type(self).__name__}({', '.join(steps)})"


def to_array(image: Image.Image) -> np.ndarray:
    """8-bit grayscale PIL image (other modes are converted) -> (1, H, W) float32 in [0, 1]."""
    if image.mode != "L":
        image = to_grayscale(image)
    return (np.asarray(image, dtype=np.float32) / np.float32(255))[None]


def padded_size(sizes: Sequence[tuple[int, int]], multiple: int = SIZE_MULTIPLE) -> tuple[int, int]:
    """The (H, W) a batch of (h, w) images is padded to: the largest of each, rounded up to `multiple`.

    >>> padded_size([(2, 3), (40, 1)])
    (64, 32)
    """
    height = -(-max(h for h, _ in sizes) // multiple) * multiple
    width = -(-max(w for _, w in sizes) // multiple) * multiple
    return height, width


def own_sizes(sizes: Sequence[tuple[int, int]], multiple: int = SIZE_MULTIPLE) -> list[tuple[int, int]]:
    """The (H, W) each of these (h, w) images is padded to when it is batched alone: the region of a padded
    batch that is its own. Models read each image on its own region (issue 34), so that what a page reads
    does not depend on the pages it is batched with.

    >>> own_sizes([(2, 3), (40, 1)])
    [(32, 32), (64, 32)]
    """
    return [padded_size([size], multiple) for size in sizes]


def line_regions(pages: Sequence[Sequence[tuple[int, int]]], multiple: int = SIZE_MULTIPLE) -> list[tuple[int, int]]:
    """The region of a padded batch that each line of these pages (the (h, w) of each page's lines) is read on:
    its page's lines padded together, as when the page is read alone. A page then reads the same in any batch,
    and as it read alone before batches were read by region. (Each line padded only to its own size read a
    little worse: mean standard CER 0.111 against 0.104 on 8 photographed pages of unseen writers, 62 lines: the
    model was trained on lines padded to the largest of their batch.)

    >>> line_regions([[(40, 300), (50, 100)], [(20, 90)]])
    [(64, 320), (64, 320), (32, 96)]
    """
    return [padded_size(page, multiple) for page in pages for _ in page]


def pad_arrays(images: Sequence[np.ndarray], multiple: int = SIZE_MULTIPLE) -> np.ndarray:
    """numpy `pad_batch`: (1, h_i, w_i) arrays -> (B, 1, H, W), each at the top left of a black canvas."""
    height, width = padded_size([image.shape[-2:] for image in images], multiple)
    batch = np.zeros((len(images), images[0].shape[0], height, width), dtype=images[0].dtype)
    for row, image in enumerate(images):
        batch[row, :, : image.shape[-2], : image.shape[-1]] = image
    return batch


# Models are trained on white ink on black. An image whose typical pixel is at least this bright is
# dark ink on light paper (a scan, a photo) and gets inverted.
LIGHT_BACKGROUND_THRESHOLD = 128


def white_ink_on_black(image: Image.Image) -> Image.Image:
    """8-bit grayscale in the models' polarity, whatever the polarity of the input (the median decides).

    >>> white_ink_on_black(Image.new("L", (4, 4), 250)).getpixel((0, 0))
    5
    """
    image = image if image.mode == "L" else to_grayscale(image)
    if float(np.median(np.asarray(image))) >= LIGHT_BACKGROUND_THRESHOLD:
        return ImageOps.invert(image)
    return image
