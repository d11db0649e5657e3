"""IAMSyntheticParagraphs: paragraphs stacked from the line crops of IAM's train and val forms.

    python -m text_recognizer.data.iam_synthetic_paragraphs --iam_source=rendered

Train only (val and test are empty: validate on real paragraphs with IAMOriginalAndSyntheticParagraphs).
How groupings are drawn, seeded and regenerated: see text_recognizer/data/synthetic/synthetic_paragraphs.py.
"""
from __future__ import annotations

import argparse
from collections.abc import Iterable

from text_recognizer.data.base_data_module import load_and_print_info
from text_recognizer.data.iam_lines import line_crops
from text_recognizer.data.iam_paragraphs import IAMParagraphs
from text_recognizer.data.sources import iam_crops
from text_recognizer.data.synthetic.synthetic_paragraphs import SyntheticParagraphs
from text_recognizer.data.util import BaseDataset
from text_recognizer.metadata import iam_paragraphs
from text_recognizer.metadata import iam_synthetic_paragraphs as metadata
from text_recognizer.util import str2bool

SYNTHETIC_SEED = 0
SYNTHETIC_REGENERATE = False
LINES_SPLIT = "trainval"  # the one split of this cache: the lines of the train and val forms


class IAMSyntheticParagraphs(IAMParagraphs):
    """Synthetic training paragraphs (augmented like the real ones when --augment_data is true).

    Note, as in the reference: on the archive, the lines of the *val* forms are used too, so synthetic
    training paragraphs contain lines that also appear in real validation paragraphs (val is optimistic).
    Where validation has writers of its own (the offline source: new writers in font families no
    training writer uses), their lines stay out: using them would train on validation's hands.
    """

    metadata = metadata
    crop_kind = "the lines of train and val forms"

    def __init__(self, args: argparse.Namespace | None = None) -> None:
        super().__init__(args)
        self.seed = self.args.get("synthetic_seed", SYNTHETIC_SEED)
        self.regenerate = self.args.get("synthetic_regenerate", SYNTHETIC_REGENERATE)

    @staticmethod
    def add_to_argparse(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        IAMParagraphs.add_to_argparse(parser)
        parser.add_argument(
            "--synthetic_seed", type=int, default=SYNTHETIC_SEED, help="seed of the synthetic paragraphs' groupings"
        )
        parser.add_argument(
            "--synthetic_regenerate", type=str2bool, default=SYNTHETIC_REGENERATE,
            help="draw new synthetic groupings every epoch (seeded by seed and epoch, the same on every rank)",
        )
        return parser

    def crops_by_split(self) -> dict[str, Iterable[iam_crops.Sample]]:
        # Halved like the paragraph crops, so that synthetic and real handwriting have the same size.
        ids = self.iam.train_ids + ([] if self.iam.val_has_own_writers else self.iam.val_ids)
        return {LINES_SPLIT: line_crops(self.iam, ids, LINES_SPLIT, scale_factor=iam_paragraphs.IMAGE_SCALE_FACTOR)}

    def setup(self, stage: str | None = None) -> None:
        records = iam_crops.read_cache(self.cache_dirname)[LINES_SPLIT]
        self.data_train = SyntheticParagraphs(
            self.cache_dirname / LINES_SPLIT, records, self.stem("train"), seed=self.seed, regenerate=self.regenerate
        )
        self.data_val = self.data_test = BaseDataset([], [])
        self.n_lines = len(records)

    def __repr__(self) -> str:
        text = super().__repr__()
        if getattr(self, "n_lines", None) is not None:
            text += (
                f"\n  {self.n_lines} lines -> {len(self.data_train)} paragraphs (each line alone + partitions into "
                f"{metadata.GROUP_SIZE_RANGES} lines; seed {self.seed}, regenerate each epoch: {self.regenerate})"
            )
        return text


if __name__ == "__main__":
    load_and_print_info(IAMSyntheticParagraphs)
