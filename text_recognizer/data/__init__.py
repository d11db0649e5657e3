"""Data modules, resolved by name (`--data_class`), imported on first use."""
from text_recognizer.registry import lazy_getattr

# class name -> module of this package that defines it
_MODULES = {
    "BaseDataModule": "base_data_module",
    "BaseDataset": "util",
    "FakeImageData": "fake_images",
    "MNIST": "mnist",
    "EMNIST": "emnist",
    "EMNISTLines": "emnist_lines",
    "EMNISTLines2": "emnist_lines2",
    "HandwritingFolder": "handwriting_folder",
    "IAMLines": "iam_lines",
    "IAMParagraphs": "iam_paragraphs",
    "IAMSyntheticParagraphs": "iam_synthetic_paragraphs",
    "IAMOriginalAndSyntheticParagraphs": "iam_original_and_synthetic_paragraphs",
}
__all__ = sorted(_MODULES)
__getattr__ = lazy_getattr(__name__, _MODULES)
