"""Handwritten paragraph recognition: `ParagraphTextRecognizer` in text_recognizer.paragraph_text_recognizer,
the console command `text-recognizer` (text_recognizer/cli.py)."""

__version__ = "0.2.0"  # the one place: the build reads it (pyproject.toml's [tool.setuptools.dynamic])
