"""ImageStem: the base preprocessing object (PIL -> float tensor in [0, 1])."""
from __future__ import annotations

import torch
from PIL import Image
from torchvision.transforms import v2

from text_recognizer.util import to_grayscale


class ImageStem:
    """Runs `pil_transforms` (PIL -> PIL), converts to a (C, H, W) float tensor in [0, 1], then
    runs `torch_transforms` (tensor -> tensor). Subclasses fill the two pipelines.

    Images arrive grayscale with white ink on black (the data modules invert the scans); other
    modes are converted to 8-bit grayscale first so that inference accepts RGB files too.
    """

    def __init__(self) -> None:
        self.pil_transforms: v2.Transform = v2.Identity()
        self.pil_to_tensor = v2.Compose([v2.PILToTensor(), v2.ToDtype(torch.float32, scale=True)])
        self.torch_transforms: v2.Transform = v2.Identity()

    def __call__(self, image: Image.Image) -> torch.Tensor:
        if not isinstance(image, Image.Image):
            raise TypeError(f"{type(self).__name__} expects a PIL image, got {type(image).__name__}")
        if image.mode != "L":
            image = to_grayscale(image)
        image = self.pil_transforms(image)
        return self.torch_transforms(self.pil_to_tensor(image))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(pil_transforms={self.pil_transforms}, torch_transforms={self.torch_transforms})"

