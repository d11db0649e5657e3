"""Train a model on a data class, checkpoint the best epoch, then test it.

    python training/run_experiment.py --help
    text-recognizer train --help          (the same, where the package is installed)

The code is text_recognizer/training/run_experiment.py, inside the package, so that an installed wheel has it.
"""
import sys
from pathlib import Path

if __name__ == "__main__":  # run as a file: import this clone's package (not training/ as a top level)
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from text_recognizer.training.run_experiment import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
