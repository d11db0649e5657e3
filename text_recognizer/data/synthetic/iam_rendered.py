"""An offline handwriting source in exactly IAM's format: form JPGs, one XML per form, writer ids.

`render_tree(dirname, options)` writes forms/<id>.jpg (1240x1754, half the scan resolution, like the
archive), xml/<id>.xml (IAM's schema; coordinates at full scan resolution, i.e. 2x the JPG's pixels;
the cmp boxes are computed from the rendered ink) and metadata.toml (the options, the writers, and the
split: `test_ids`, `val_ids` and the test subsets). The IAM class reads it like the real archive.

Writers have roles (make_writers). Training writers write in the training families of
sources/font_table.py; validation writers are new writers in families of their own (VAL_FAMILIES);
test writers are new writers too, of two kinds, reported apart (`test_subsets`): "unseen_family"
writers use held-out families (TEST_FAMILIES) that no training or validation writer touches, in any
weight or style, and "train_family" writers use training families. The first measures new hands, the
second new writers of known hands; the gap between them is how much the model reads fonts, not hands.
Each form is rendered from its own seed, so the tree depends only on the options, however many
processes render it.
"""
from __future__ import annotations

import argparse
import dataclasses
import multiprocessing
import random
import time
from pathlib import Path

import toml

from text_recognizer.data.sources import handwriting_fonts
from text_recognizer.data.synthetic import hand_realism, handwriting
from text_recognizer.data.synthetic.form_renderer import render_form
from text_recognizer.metadata import shared
from text_recognizer.util import DataUnavailableError

TREE_METADATA_FILENAME = "metadata.toml"
RENDERER_VERSION = 7  # bump when the output changes, so that old trees and caches are not reused
DEFAULT_FORMS = 1600  # about IAM's 1539 forms; renders in about 2 minutes on 2 cores, once
DEFAULT_WRITERS = 240  # 171 train, 24 val, 15 train-family test, 30 unseen-family test (about 7 forms each)
DEFAULT_SEED = 0
DEFAULT_LETTER_HABITS = 0.0  # off: the recorded runs trained without it; not yet measured on a curve
MAX_LETTER_HABITS = 2.0  # at 2, joined-up Hershey letters already come apart (looked at)
# Writers by role (IAM's LWITLRT test set is 232 of 1539 forms, about 15%; here about 19%, as the test
# set has two parts).
UNSEEN_FAMILY_TEST_FRACTION = 1 / 8  # at least one
TRAIN_FAMILY_TEST_FRACTION = 1 / 16
VAL_FRACTION = 1 / 10  # none in a tree of fewer than 5 writers: val is then 20% of the training writers' forms
WRITER_ROLES = ("train", "val", "test_train_family", "test_unseen_family")
DEFAULT_PROCESSES = 2
CHARACTERS_PER_LINE = (38, 56)  # a writer's typical line, drawn from this range (IAM: about 35 to 60)
LINE_WIDTH = 1000  # pixels a line of handwriting spans on the 1240-pixel-wide form


@dataclasses.dataclass(frozen=True)
class RenderOptions:
    forms: int = DEFAULT_FORMS
    writers: int = DEFAULT_WRITERS
    seed: int = DEFAULT_SEED
    letter_habits: float = DEFAULT_LETTER_HABITS  # Writer.with_own_letters' strength
    fonts: str = handwriting_fonts.DEFAULT_FONT_SET  # which faces (handwriting_fonts.FONT_SETS)
    realism: hand_realism.Realism = hand_realism.Realism()  # what fonts lack; all off by default

    def __post_init__(self):
        if self.fonts not in handwriting_fonts.FONT_SETS:
            raise ValueError(f"--iam_rendered_fonts must be one of {handwriting_fonts.FONT_SETS}, got {self.fonts!r}")
        if self.writers < 2 or self.forms < self.writers:
            raise ValueError(f"need at least 2 writers and one form per writer (got {self.forms} forms, {self.writers} writers)")
        if not 0 <= self.letter_habits <= MAX_LETTER_HABITS:
            raise ValueError(f"--iam_rendered_letter_habits must be from 0 (off) to {MAX_LETTER_HABITS}, got {self.letter_habits}")

    def dirname(self) -> str:
        habits = f"_letters{self.letter_habits:g}" if self.letter_habits else ""  # off: the trees made before it
        fonts = handwriting_fonts.font_set_tag(self.fonts)
        return (f"forms{self.forms}_writers{self.writers}_seed{self.seed}{habits}{self.realism.suffix()}"
                f"_fonts{fonts}_v{RENDERER_VERSION}")

    def cache_name(self) -> str:
        """Name of processed caches made from this tree, e.g. 'iam_rendered_forms400_writers24_seed0_v2'.

        It names the options and the renderer version, so that a cache is never reused for other data.
        """
        return f"iam_rendered_{self.dirname()}"

    def as_kwargs(self) -> dict[str, float]:
        return dataclasses.asdict(self)

    @staticmethod
    def add_to_argparse(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        parser.add_argument("--iam_rendered_forms", type=int, default=DEFAULT_FORMS,
                            help="forms written by the offline source (--iam_source=rendered)")
        parser.add_argument("--iam_rendered_writers", type=int, default=DEFAULT_WRITERS,
                            help="distinct synthetic writers: an eighth write test forms in held-out font families, "
                            "a sixteenth test forms in training families, a tenth validation forms in families of their own")
        parser.add_argument("--iam_rendered_seed", type=int, default=DEFAULT_SEED, help="seed of the offline source")
        parser.add_argument("--iam_rendered_letter_habits", type=float, default=DEFAULT_LETTER_HABITS,
                            help="each writer's own letter shapes, width and pen, so that writers of one font "
                            "write as different hands: strength (1: letters bent by about a tenth of the x-height; 0: off)")
        parser.add_argument("--iam_rendered_fonts", choices=handwriting_fonts.FONT_SETS, default=handwriting_fonts.DEFAULT_FONT_SET,
                            help="'all': the installed faces plus the npm handwriting packages (fetched once into "
                            "data/downloaded/fonts/) and Debian's where installed; 'pypi': only the faces installed with "
                            "the project (offline; the tests and make demo)")
        hand_realism.Realism.add_to_argparse(parser)
        return parser

    @classmethod
    def from_args(cls, args: dict) -> RenderOptions:
        return cls(forms=args.get("iam_rendered_forms", DEFAULT_FORMS),
                   writers=args.get("iam_rendered_writers", DEFAULT_WRITERS),
                   seed=args.get("iam_rendered_seed", DEFAULT_SEED),
                   letter_habits=args.get("iam_rendered_letter_habits", DEFAULT_LETTER_HABITS),
                   fonts=args.get("iam_rendered_fonts", handwriting_fonts.DEFAULT_FONT_SET),
                   realism=hand_realism.Realism.from_args(args))


def form_id(index: int) -> str:
    """IAM-like form ids: r01-000, r01-001, ..., r02-000 after a thousand."""
    return f"r{index // 1000 + 1:02d}-{index % 1000:03d}"


def role_counts(writers: int) -> dict[str, int]:
    """How many writers of each role (WRITER_ROLES) a tree of `writers` writers has."""
    counts = {"val": round(writers * VAL_FRACTION), "test_train_family": round(writers * TRAIN_FAMILY_TEST_FRACTION),
              "test_unseen_family": max(1, round(writers * UNSEEN_FAMILY_TEST_FRACTION))}
    return {"train": writers - sum(counts.values()), **counts}


def make_writers(options: RenderOptions) -> tuple[list[handwriting.Writer], dict[str, str]]:
    """Writers (ids "000", "001", ...: training writers first, test writers last) and each one's role.

    Each role's writers take its families in turn (a family with twelve styles gets no more writers than
    one with one), and a face of the family at random. Every writer draws from an RNG of its own, so the
    unseen-family writers are the same whatever training faces a machine has (Debian's are optional).
    """
    faces = handwriting_fonts.faces(options.fonts)
    families: dict[str, dict[str, list[handwriting_fonts.Face]]] = {role: {} for role in handwriting_fonts.ROLES}
    for face in faces:
        families[face.role].setdefault(face.family, []).append(face)
    if not families["test"] or not families["train"]:
        raise DataUnavailableError(f"the {options.fonts!r} font set lacks training or held-out families: "
                                   "pip install -r requirements/prod.txt")
    # A font set without validation families (pypi) gives its validation writers training families.
    pools = {"train": families["train"], "val": families["val"] or families["train"],
             "test_train_family": families["train"], "test_unseen_family": families["test"]}
    roles = [role for role, count in role_counts(options.writers).items() for _ in range(count)]
    writers, seen = [], dict.fromkeys(WRITER_ROLES, 0)
    for index, role in enumerate(roles):
        names = sorted(pools[role])
        random.Random(f"families-{options.seed}-{role}").shuffle(names)
        family = pools[role][names[seen[role] % len(names)]]
        seen[role] += 1
        rng = random.Random(f"writer-{options.seed}-{index}")
        face = family[rng.randrange(len(family))]
        writer = handwriting.Writer.sample(f"{index:03d}", face.name, rng)
        writer = dataclasses.replace(writer, capitals=face.capitals,
                                     **options.realism.writer_fields(random.Random(f"realism-{options.seed}-{index}")))
        # From an RNG of its own, so the writers' other habits (and the tree without it) stay the same.
        writer = writer.with_own_letters(options.letter_habits, random.Random(f"letters-{options.seed}-{index}"))
        writers.append(writer.fitted(rng.uniform(*CHARACTERS_PER_LINE), LINE_WIDTH))
    return writers, {writer.writer_id: role for writer, role in zip(writers, roles)}


class RenderedTree:
    """The offline renderer as a tree source of IAM (sources/iam.py; the other one is ArchiveTree):
    the tree of `options` under <data dir>/downloaded/iam_rendered/, rendered when missing."""

    name = "rendered"  # --iam_source

    def __init__(self, data_dirname: Path | None = None, options: RenderOptions | None = None) -> None:
        self.options = options or RenderOptions()
        self.dl_dirname = Path(data_dirname or shared.downloaded_dirname("iam_rendered"))
        self.root = self.dl_dirname / self.options.dirname()
        self.test_list_filename = self.root / TREE_METADATA_FILENAME
        self.cache_name = self.options.cache_name()

    def build(self, staging: Path) -> Path:
        """Render the tree under `staging`; returns its folder."""
        tree = staging / "tree"
        render_tree(tree, self.options)
        return tree


def _form_writers(options: RenderOptions, n_writers: int) -> list[int]:
    """Writer index of each form: every writer writes at least one, the rest at random."""
    rng = random.Random(f"assign-{options.seed}")
    assignment = list(range(n_writers)) + [rng.randrange(n_writers) for _ in range(options.forms - n_writers)]
    rng.shuffle(assignment)
    return assignment


def _render_one(job: tuple[Path, str, handwriting.Writer, int]) -> None:
    dirname, id_, writer, seed = job
    image, xml = render_form(id_, writer, random.Random(seed))
    image.save(dirname / "forms" / f"{id_}.jpg", quality=85)
    (dirname / "xml" / f"{id_}.xml").write_text(xml, encoding="utf-8")


def render_tree(dirname: Path, options: RenderOptions = RenderOptions(), processes: int = DEFAULT_PROCESSES) -> None:
    """Write a complete IAM-format tree into `dirname` (callers make it atomic by renaming it afterwards)."""
    dirname = Path(dirname)
    (dirname / "forms").mkdir(parents=True, exist_ok=True)
    (dirname / "xml").mkdir(parents=True, exist_ok=True)
    writers, roles = make_writers(options)
    ids = [form_id(index) for index in range(options.forms)]
    assignment = _form_writers(options, len(writers))
    jobs = [(dirname, id_, writers[w], options.seed * 1_000_003 + index) for index, (id_, w) in enumerate(zip(ids, assignment))]
    started = time.time()
    print(f"Rendering {options.forms} handwritten forms by {options.writers} writers into {shared.shown_path(dirname)}...")
    # A daemonic process (a DataLoader worker, say) may not start a pool: render in-process there.
    if processes > 1 and len(jobs) > 8 and not multiprocessing.current_process().daemon:
        with multiprocessing.get_context("spawn").Pool(processes) as pool:
            for _ in pool.imap_unordered(_render_one, jobs, chunksize=4):
                pass
    else:
        for job in jobs:
            _render_one(job)
    ids_by_role = {role: [id_ for id_, w in zip(ids, assignment) if roles[writers[w].writer_id] == role] for role in WRITER_ROLES}
    families = {face.name: face.family for face in handwriting_fonts.faces(options.fonts, fetch=False)}
    metadata = {
        "renderer_version": RENDERER_VERSION, **options.as_kwargs(),
        "test_ids": sorted(ids_by_role["test_train_family"] + ids_by_role["test_unseen_family"]),
        # Written only where validation has writers of its own; otherwise IAM splits the training writers' forms.
        **({"val_ids": ids_by_role["val"]} if ids_by_role["val"] else {}),
        "test_subsets": {"train_family": ids_by_role["test_train_family"], "unseen_family": ids_by_role["test_unseen_family"]},
        "writers": {writer.writer_id: {**dataclasses.asdict(writer), "role": roles[writer.writer_id],
                                       "family": families[writer.font]} for writer in writers},
    }
    (dirname / TREE_METADATA_FILENAME).write_text(toml.dumps(metadata))
    print(f"Rendered {options.forms} forms in {time.time() - started:.1f} s")


def main() -> None:
    parser = RenderOptions.add_to_argparse(argparse.ArgumentParser(description=__doc__))
    parser.add_argument("--output", type=Path, required=True, help="folder to write forms/, xml/ and metadata.toml into")
    parser.add_argument("--processes", type=int, default=DEFAULT_PROCESSES)
    args = parser.parse_args()
    render_tree(args.output, RenderOptions.from_args(vars(args)), processes=args.processes)


if __name__ == "__main__":
    main()
