"""Preprocessing "stems": PIL image -> model-ready tensor, shared by the data modules and inference.

Light on purpose (torch, torchvision and PIL only; no Lightning, no data modules): the recognizer
imports the same object that the training data goes through, with `augment=False`.
"""
from text_recognizer.stems.image import ImageStem
from text_recognizer.stems.line import IAMLineStem
from text_recognizer.stems.paragraph import ParagraphStem

__all__ = ["IAMLineStem", "ImageStem", "ParagraphStem"]
