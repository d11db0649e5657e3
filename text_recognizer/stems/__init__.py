"""Preprocessing "stems": PIL image -> model-ready tensor, shared by the data modules and inference.

Light on purpose (torch, torchvision and PIL only; no Lightning, no data modules): the recognizer
imports the same object that the training data goes through, with `augment=False`. The classes are
imported on first use, so that `stems.paragraph_core` (numpy and PIL only: the ONNX backend's
preprocessing) loads without torch.
"""
from text_recognizer.registry import lazy_getattr

_MODULES = {"IAMLineStem": "line", "ImageStem": "image", "ParagraphStem": "paragraph"}
__all__ = sorted(_MODULES)
__getattr__ = lazy_getattr(__name__, _MODULES)
