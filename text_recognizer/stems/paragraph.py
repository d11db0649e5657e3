"""ParagraphStem: a paragraph image of any size -> a (1, H, W) tensor of at most 576x640, and the batch padding.

By default the image keeps its own size (scaled down only when it exceeds 576x640) and `pad_batch`
pads a batch to its own largest image: a single line costs a line's pixels, not a page's. With
`fixed_canvas=True` every image is pasted on the full 576x640 canvas, as the reference did (for
reproducing its published recipe).
"""
from __future__ import annotations

import argparse
import math
import random
from collections.abc import Callable, Sequence

import torch
from PIL import Image, ImageFilter, ImageOps
from torchvision.transforms import v2

from text_recognizer.metadata import iam_paragraphs as metadata
from text_recognizer.stems.image import ImageStem

# The torch-free half (evaluation transform, pitch estimate, batch geometry), shared with the ONNX
# backend; re-exported here, where the data modules and tests have always found it.
from text_recognizer.stems.paragraph_core import (  # noqa: F401
    CORE_TO_PITCH,
    MIN_PERIODICITY,
    READ_BY_LINES,
    READ_BY_PAGE,
    SIZE_MULTIPLE,
    TARGET_LINE_PITCH,
    EvaluationTransform,
    FitInside,
    MatchTrainingScale,
    check_line_pitch,
    estimate_line_pitch,
    line_boxes,
    padded_size,
    rescale,
    to_array,
)

BRIGHTNESS_RANGE = (0.8, 1.6)
ROTATION_DEGREES = 1
SHEAR_RANGE = (-10, 10)  # degrees, along x
MAX_MARGIN = 8  # pixels of black added at random on each side of a content-sized training image
SCALE_RANGE = (0.85, 1.15)  # random rescaling of the handwriting when augmenting
THICKEN_PROBABILITY = 0.25  # a 3x3 max filter: a broader pen
BLUR_PROBABILITY = 0.2
BLUR_RADIUS = (0.3, 1.0)
ELASTIC_DISPLACEMENT = 0.0  # pixels (standard deviation); off: the recorded recipes ran without it
ELASTIC_SIGMA = 10.0  # pixels: bends letters and words as another hand would; at 6, 2 px already tears strokes
# The field is drawn on a grid of ELASTIC_SIGMA / ELASTIC_GRID_NODES px and smoothed there, then
# resized: torchvision's ElasticTransform blurs full-size noise with an 81 px kernel, 0.43 s of a
# worker's CPU per page and 0.13 s per line (the bending itself takes 2-3 ms): a batch of 16 lines
# cost a loader worker about as much CPU as the model's training step, on the same two cores.
ELASTIC_GRID_NODES = 2  # grid nodes per sigma: the blur's kernel is 17 nodes wide
_ELASTIC_KERNEL = 8 * ELASTIC_GRID_NODES + 1
# Uniform noise in [-1, 1] (std 1/sqrt(3)) blurred by a Gaussian of s nodes has std 1 / (sqrt(3) 2 sqrt(pi) s).
_SMOOTHED_STD = 1 / (math.sqrt(3) * 2 * math.sqrt(math.pi) * ELASTIC_GRID_NODES)


def smooth_displacement(height: int, width: int, pixels: float) -> torch.Tensor:
    """A random (1, height, width, 2) displacement field for torchvision's `elastic`, smooth over
    ELASTIC_SIGMA px, of `pixels` standard deviation along each axis (in its units: the image spans 2)."""
    step = ELASTIC_SIGMA / ELASTIC_GRID_NODES
    grid = (max(math.ceil(height / step) + 1, _ELASTIC_KERNEL), max(math.ceil(width / step) + 1, _ELASTIC_KERNEL))
    noise = torch.rand(1, 2, *grid) * 2 - 1
    smooth = v2.functional.gaussian_blur(noise, [_ELASTIC_KERNEL] * 2, [float(ELASTIC_GRID_NODES)] * 2)
    field = torch.nn.functional.interpolate(smooth, size=(height, width), mode="bilinear", align_corners=True)
    field = field * (pixels / _SMOOTHED_STD)  # pixels
    per_unit = torch.tensor([2 / width, 2 / height]).view(1, 2, 1, 1)  # grid_sample's units
    return (field * per_unit).permute(0, 2, 3, 1)


class ElasticDistortion:
    """A smooth random displacement of every pixel (torchvision's `elastic`, bilinear, black fill), of
    `displacement` px standard deviation, its field smoothed over ELASTIC_SIGMA px; any image size."""

    def __init__(self, displacement: float) -> None:
        self.displacement = displacement

    def __call__(self, image: Image.Image) -> Image.Image:
        field = smooth_displacement(image.height, image.width, self.displacement)
        return v2.functional.elastic(image, field, interpolation=v2.InterpolationMode.BILINEAR, fill=0)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(displacement={self.displacement:g}, sigma={ELASTIC_SIGMA:g})"


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


def array_to_tensor(image: Image.Image) -> torch.Tensor:
    """PIL -> (1, H, W) float tensor in [0, 1], by the torch-free to_array."""
    return torch.from_numpy(to_array(image))


class ParagraphStem(ImageStem):
    """Paragraph preprocessing; `augment=False` is what validation, test and the ParagraphTextRecognizer
    use, so inference sees exactly the evaluation transform. `match_scale=True` (the recognizer) first
    rescales the handwriting to the line pitch the model reads best (MatchTrainingScale)."""

    def __init__(
        self,
        augment: bool = False,
        fixed_canvas: bool = False,
        match_scale: bool = False,
        image_shape: tuple[int, int] = metadata.IMAGE_SHAPE,
        elastic_displacement: float = ELASTIC_DISPLACEMENT,
        line_pitch: float = TARGET_LINE_PITCH,
        photo: Callable[[Image.Image], Image.Image] | None = None,
    ) -> None:
        """`photo`: when augmenting, applied to each crop first (the data modules give photo_effects.PhotoAugment:
        the crop photographed and normalized back, as the recognizer reads a user's photo)."""
        super().__init__()
        if elastic_displacement < 0:
            raise ValueError(f"--elastic_displacement must be 0 (off) or more, got {elastic_displacement}")
        self.augment, self.fixed_canvas = augment, fixed_canvas
        # Every output is exactly to_array's (the ONNX backend's), bit for bit.
        self.pil_to_tensor = v2.Compose([array_to_tensor])
        if not augment:
            self.pil_transforms = v2.Compose([EvaluationTransform(fixed_canvas, match_scale, image_shape, line_pitch)])
            return
        fit = FitInside(*image_shape)
        # A new hand bends its strokes differently: a smooth random displacement field (torchvision's).
        elastic = [ElasticDistortion(elastic_displacement)] if elastic_displacement else []
        distort = [
            *elastic,
            v2.ColorJitter(brightness=BRIGHTNESS_RANGE),
            v2.RandomAffine(
                degrees=ROTATION_DEGREES, shear=SHEAR_RANGE, interpolation=v2.InterpolationMode.BILINEAR, fill=0
            ),
        ]
        # Augmented at the crop's own size, then shrunk once (BOX) to the pitch the model reads at: pen,
        # blur, elastic and margins keep their sizes relative to the handwriting at any --line_pitch. On
        # the fixed canvas the crop is shrunk first, since it is placed on the canvas before distortion.
        shrink = [] if line_pitch == TARGET_LINE_PITCH else [Rescale(check_line_pitch(line_pitch) / TARGET_LINE_PITCH)]
        if fixed_canvas:
            # pad_if_needed + a random crop of the padded image = a random placement of the whole
            # image on the canvas (the crop window always contains it, since it fits).
            self.pil_transforms = v2.Compose(
                [*([photo] if photo else []), *shrink, fit, v2.RandomCrop(image_shape, pad_if_needed=True, fill=0), *distort]
            )
        else:
            self.pil_transforms = v2.Compose([*([photo] if photo else []), RandomHandwritingVariation(), *distort, *shrink, fit])


class Rescale:
    """`rescale` by a fixed factor, as a transform."""

    def __init__(self, scale: float) -> None:
        self.scale = scale

    def __call__(self, image: Image.Image) -> Image.Image:
        return rescale(image, self.scale)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.scale:g})"


def line_pitch_flag(text: str) -> float:
    """--line_pitch's argparse type: refused at the command line, before any data or run folder."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    try:
        return check_line_pitch(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_augmentation_flags(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The paragraph stem's training augmentation flags, for the data modules that build it."""
    parser.add_argument(
        "--elastic_displacement", type=float, default=ELASTIC_DISPLACEMENT,
        help=f"training augmentation: an elastic distortion of the handwriting, its displacements of this many "
        f"pixels (standard deviation) smoothed over {ELASTIC_SIGMA:g} (0: off)",
    )
    parser.add_argument(
        "--line_pitch", type=line_pitch_flag, default=TARGET_LINE_PITCH,
        help=f"the line pitch in pixels the model reads handwriting at: every crop is rescaled by line_pitch / "
        f"{TARGET_LINE_PITCH:g} (the native crops), and the recognizer rescales every page to it; smaller costs "
        "fewer pixels",
    )
    return parser


def pad_batch(images: Sequence[torch.Tensor], multiple: int = SIZE_MULTIPLE) -> torch.Tensor:
    """(1, h_i, w_i) images -> (B, 1, H, W), each at the top left of a black canvas as large as the
    largest image, rounded up to `multiple`. Training, evaluation and the recognizer all batch this way.

    >>> pad_batch([torch.ones(1, 2, 3), torch.ones(1, 40, 1)]).shape
    torch.Size([2, 1, 64, 32])
    """
    height, width = padded_size([(image.shape[-2], image.shape[-1]) for image in images], multiple)
    batch = images[0].new_zeros((len(images), images[0].shape[0], height, width))
    for row, image in enumerate(images):
        batch[row, :, : image.shape[-2], : image.shape[-1]] = image
    return batch
