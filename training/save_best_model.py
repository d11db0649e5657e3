"""Pick the best run of a data class and write its model into text_recognizer/artifacts/.

    python training/save_best_model.py --help
    text-recognizer select --help          (the same, where the package is installed)

The code is text_recognizer/training/save_best_model.py, inside the package, so that an installed wheel has it.
"""
import sys
from pathlib import Path

if __name__ == "__main__":  # run as a file: import this clone's package (not training/ as a top level)
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from text_recognizer.training.save_best_model import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
