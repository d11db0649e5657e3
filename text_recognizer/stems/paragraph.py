"""ParagraphStem: a paragraph image of any size -> (1, 576, 640) tensor."""
from __future__ import annotations

from PIL import Image
from torchvision.transforms import v2

from text_recognizer.metadata import iam_paragraphs as metadata
from text_recognizer.stems.image import ImageStem

BRIGHTNESS_RANGE = (0.8, 1.6)
ROTATION_DEGREES = 1
SHEAR_RANGE = (-10, 10)  # degrees, along x


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


class ParagraphStem(ImageStem):
    """Paragraph preprocessing; `augment=False` (centre placement) is what validation, test and
    the ParagraphTextRecognizer use, so inference sees exactly the evaluation transform."""

    def __init__(self, augment: bool = False, image_shape: tuple[int, int] = metadata.IMAGE_SHAPE) -> None:
        super().__init__()
        self.augment = augment
        fit = FitInside(*image_shape)
        if not augment:
            # CenterCrop pads with black when the image is smaller than the canvas; after FitInside
            # it never has anything to crop.
            self.pil_transforms = v2.Compose([fit, v2.CenterCrop(image_shape)])
            return
        self.pil_transforms = v2.Compose(
            [
                fit,
                # pad_if_needed + a random crop of the padded image = a random placement of the whole
                # image on the canvas (the crop window always contains it, since it fits).
                v2.RandomCrop(image_shape, pad_if_needed=True, fill=0),
                v2.ColorJitter(brightness=BRIGHTNESS_RANGE),
                v2.RandomAffine(
                    degrees=ROTATION_DEGREES, shear=SHEAR_RANGE, interpolation=v2.InterpolationMode.BILINEAR, fill=0
                ),
            ]
        )
