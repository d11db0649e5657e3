"""Export a paragraph model to ONNX beside it.

    python training/export_model.py --help
    text-recognizer export --help          (the same, where the package is installed)

The code is text_recognizer/training/export_model.py, inside the package, so that an installed wheel has it.
"""
import sys
from pathlib import Path

if __name__ == "__main__":  # run as a file: import this clone's package (not training/ as a top level)
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from text_recognizer.training.export_model import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
