"""ParagraphStem: a paragraph image of any size -> a (1, H, W) tensor of at most 576x640, and the batch padding.

By default the image keeps its own size (scaled down only when it exceeds 576x640) and `pad_batch`
pads a batch to its own largest image: a single line costs a line's pixels, not a page's. With
`fixed_canvas=True` every image is pasted on the full 576x640 canvas, as the reference did (for
reproducing its published recipe).
"""
from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image, ImageFilter, ImageOps
from torchvision.transforms import v2

from text_recognizer.metadata import iam_paragraphs as metadata
from text_recognizer.stems.image import ImageStem

BRIGHTNESS_RANGE = (0.8, 1.6)
ROTATION_DEGREES = 1
SHEAR_RANGE = (-10, 10)  # degrees, along x
MAX_MARGIN = 8  # pixels of black added at random on each side of a content-sized training image
SCALE_RANGE = (0.85, 1.15)  # random rescaling of the handwriting when augmenting
THICKEN_PROBABILITY = 0.25  # a 3x3 max filter: a broader pen
BLUR_PROBABILITY = 0.2
BLUR_RADIUS = (0.3, 1.0)
SIZE_MULTIPLE = 32  # ResNet's stride: a padded batch is a whole number of feature-map cells
# Baseline-to-baseline distance of the training paragraphs, 5th to 95th percentile, by
# estimate_line_pitch on 300 training paragraphs of the offline source (1600 forms; IAM's halved
# crops are alike). Inference rescales handwriting whose pitch falls outside this range into it.
LINE_PITCH_RANGE = (28.0, 54.0)
MIN_PERIODICITY = 0.25  # autocorrelation peak of the row profile that counts as lines repeating
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


class RandomHandwritingVariation:
    """Per-sample changes that a new writer or scanner brings: scale, pen width, blur, margins.

    The margin replaces the reference's random placement on the canvas: the content sits a few
    pixels from the batch's top-left corner at a random offset, and shear and rotation have room.
    """

    def __call__(self, image: Image.Image) -> Image.Image:
        scale = random.uniform(*SCALE_RANGE)
        image = rescale(image, scale, Image.Resampling.BILINEAR)  # small changes: bilinear either way
        if random.random() < THICKEN_PROBABILITY:
            image = image.filter(ImageFilter.MaxFilter(3))  # white ink on black: grows the strokes
        if random.random() < BLUR_PROBABILITY:
            image = image.filter(ImageFilter.GaussianBlur(random.uniform(*BLUR_RADIUS)))
        left, top, right, bottom = (random.randint(0, MAX_MARGIN) for _ in range(4))
        return ImageOps.expand(image, border=(left, top, right, bottom), fill=0)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(scale={SCALE_RANGE}, margin<={MAX_MARGIN})"


def estimate_line_pitch(image: Image.Image) -> float | None:
    """Baseline-to-baseline distance of the handwriting in pixels (white ink on black); None when blank.

    Several lines: the first strong peak of the autocorrelation of the row ink profile. One line:
    CORE_TO_PITCH times the height of the rows holding at least 30% of the busiest row's ink.
    Both scale with the image, which is what makes it a measure of the handwriting's size.
    """
    pixels = np.asarray(image.convert("L"), dtype=np.float32)
    background, ink = np.median(pixels), np.percentile(pixels, 99.5)
    if ink - background < 32:  # no ink worth the name
        return None
    profile = (pixels > (background + ink) / 2).sum(axis=1).astype(np.float64)  # (H,) ink per row
    rows = np.flatnonzero(profile)
    if rows.size == 0:
        return None
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
    return CORE_TO_PITCH * float((profile >= 0.3 * profile.max()).sum())


class MatchTrainingScale:
    """Rescale handwriting whose line pitch lies outside LINE_PITCH_RANGE into it (inference only).

    Photos and scans come at any resolution; the model read handwriting of a known range of sizes.
    Handwriting already within that range is left untouched.
    """

    def __call__(self, image: Image.Image) -> Image.Image:
        pitch = estimate_line_pitch(image)
        if pitch is None:
            return image
        low, high = LINE_PITCH_RANGE
        return rescale(image, min(max(pitch, low), high) / pitch)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(line_pitch_range={LINE_PITCH_RANGE})"


class ParagraphStem(ImageStem):
    """Paragraph preprocessing; `augment=False` is what validation, test and the ParagraphTextRecognizer
    use, so inference sees exactly the evaluation transform. `match_scale=True` (the recognizer) first
    rescales handwriting of an unusual size into the training range (MatchTrainingScale)."""

    def __init__(
        self,
        augment: bool = False,
        fixed_canvas: bool = False,
        match_scale: bool = False,
        image_shape: tuple[int, int] = metadata.IMAGE_SHAPE,
    ) -> None:
        super().__init__()
        self.augment, self.fixed_canvas = augment, fixed_canvas
        fit: v2.Transform | v2.Compose = FitInside(*image_shape)
        if match_scale:
            fit = v2.Compose([MatchTrainingScale(), fit])
        distort = [
            v2.ColorJitter(brightness=BRIGHTNESS_RANGE),
            v2.RandomAffine(
                degrees=ROTATION_DEGREES, shear=SHEAR_RANGE, interpolation=v2.InterpolationMode.BILINEAR, fill=0
            ),
        ]
        if not fixed_canvas:
            self.pil_transforms = v2.Compose([RandomHandwritingVariation(), *distort, fit] if augment else [fit])
        elif augment:
            # pad_if_needed + a random crop of the padded image = a random placement of the whole
            # image on the canvas (the crop window always contains it, since it fits).
            self.pil_transforms = v2.Compose([fit, v2.RandomCrop(image_shape, pad_if_needed=True, fill=0), *distort])
        else:
            # CenterCrop pads with black when the image is smaller than the canvas; after FitInside
            # it never has anything to crop.
            self.pil_transforms = v2.Compose([fit, v2.CenterCrop(image_shape)])


def pad_batch(images: Sequence[torch.Tensor], multiple: int = SIZE_MULTIPLE) -> torch.Tensor:
    """(1, h_i, w_i) images -> (B, 1, H, W), each at the top left of a black canvas as large as the
    largest image, rounded up to `multiple`. Training, evaluation and the recognizer all batch this way.

    >>> pad_batch([torch.ones(1, 2, 3), torch.ones(1, 40, 1)]).shape
    torch.Size([2, 1, 64, 32])
    """
    height = -(-max(image.shape[-2] for image in images) // multiple) * multiple
    width = -(-max(image.shape[-1] for image in images) // multiple) * multiple
    batch = images[0].new_zeros((len(images), images[0].shape[0], height, width))
    for row, image in enumerate(images):
        batch[row, :, : image.shape[-2], : image.shape[-1]] = image
    return batch
