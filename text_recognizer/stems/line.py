"""IAMLineStem: a line crop of any size -> (1, 56, IMAGE_WIDTH) tensor."""
from __future__ import annotations

import torch
from PIL import Image
from torchvision.transforms import v2

from text_recognizer.metadata import iam_lines as metadata
from text_recognizer.stems.image import ImageStem

WIDTH_SCALE_RANGE = (0.9, 1.1)  # random horizontal stretch when augmenting
BRIGHTNESS_RANGE = (0.8, 1.6)
ROTATION_DEGREES = 1
SHEAR_RANGE = (-30, 20)  # degrees, along x: handwriting slants mostly one way


class ResizeAndEmbed:
    """Resize a line to `height` keeping its aspect ratio (times a random width factor when given)
    and paste it at the left of a black `height` x `width` canvas.

    A line that would be wider than the canvas is squeezed horizontally to fit, never cropped:
    the character height stays the same for every line, which the convolutional trunk relies on.
    """

    def __init__(self, height: int, width: int, width_scale_range: tuple[float, float] | None = None) -> None:
        self.height, self.width = height, width
        self.width_scale_range = width_scale_range

    def __call__(self, image: Image.Image) -> Image.Image:
        crop_width, crop_height = image.size
        new_width = self.height * crop_width / max(crop_height, 1)
        if self.width_scale_range is not None:
            low, high = self.width_scale_range
            new_width *= float(torch.empty(()).uniform_(low, high))  # torch RNG: seeded per DataLoader worker
        new_width = min(max(round(new_width), 1), self.width)
        resized = image.resize((new_width, self.height), resample=Image.Resampling.BILINEAR)
        canvas = Image.new("L", (self.width, self.height), 0)
        canvas.paste(resized, (0, 0))
        return canvas

    def __repr__(self) -> str:
        return f"{type(self).__name__}(height={self.height}, width={self.width}, width_scale_range={self.width_scale_range})"


class IAMLineStem(ImageStem):
    """Line preprocessing for IAMLines; `augment=False` is deterministic (validation, test, inference)."""

    def __init__(
        self,
        augment: bool = False,
        image_height: int = metadata.IMAGE_HEIGHT,
        image_width: int = metadata.IMAGE_WIDTH,
    ) -> None:
        super().__init__()
        self.augment = augment
        if not augment:
            self.pil_transforms = v2.Compose([ResizeAndEmbed(image_height, image_width)])
            return
        self.pil_transforms = v2.Compose(
            [
                ResizeAndEmbed(image_height, image_width, width_scale_range=WIDTH_SCALE_RANGE),
                v2.ColorJitter(brightness=BRIGHTNESS_RANGE),  # black stays black: only the ink's intensity varies
                v2.RandomAffine(
                    degrees=ROTATION_DEGREES, shear=SHEAR_RANGE, interpolation=v2.InterpolationMode.BILINEAR, fill=0
                ),
            ]
        )
