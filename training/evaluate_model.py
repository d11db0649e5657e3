"""Read a data class's paragraphs with a model, exactly as a user would, and print both CERs per split.

    python training/evaluate_model.py --iam_source=rendered --splits=train,test --limit=100 [--model_path=...]

Goes through ParagraphTextRecognizer (the cached crops are passed as files, so preprocessing, scale
matching and decoding are the production path), so the figures are what users get. Training and test
side by side show the gap between the writers the model trained on and the writers it never saw. On the
offline source, `--splits=test_train_family,val,test_unseen_family` reads the test writers of training
font families and those of held-out families apart, beside validation (new writers in families of
their own): the gap between the first and the last is how much the model reads fonts rather than hands.
`--scales=0.75,1,2` reads every image at those scales too; `--photos` reads each page also as a phone photo
of it (text_recognizer/data/synthetic/photo_effects.py: paper, rulings, ink colour, light, a desk,
perspective, focus, noise, JPEG; the same photo for the same page every time), clean and photo side by
side; `--line_guard=both` reads each with and without
the decoding's line-length guard (text_recognizer/line_guard.py), to show what it does. For a model that
reads one line at a time, it also counts the pages cut into as many lines as their labels have.
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

SPLITS = "train,test"
TEST_SUBSET_PREFIX = "test_"  # "test_<subset>": the test forms of one of the source's test subsets
LIMIT = 100


def evaluate(recognizer, filenames: list[str], truths: list[str], scale: float = 1.0, photos: bool = False) -> dict[str, float]:
    from PIL import Image

    from text_recognizer.data.synthetic.photo_effects import photograph
    from text_recognizer.lit_models.metrics import character_error_rate, reference_cer
    from text_recognizer.stems.paragraph import READ_BY_LINES, rescale

    images: list[Image.Image] = []
    for filename in filenames:
        with Image.open(filename) as file:
            image = file.convert("L")
        # a photo's seed is its page's place in the split: the same photos every run
        images.append(photograph(rescale(image, scale), seed=len(images)) if photos else rescale(image, scale))
    started = time.perf_counter()
    texts = [prediction.text for prediction in recognizer.predict_batch(images)]
    seconds = time.perf_counter() - started
    figures = {
        "paragraphs": len(texts),
        "cer_standard": character_error_rate(texts, truths),
        "cer_reference": reference_cer(texts, truths),
        "seconds_per_paragraph": seconds / max(1, len(texts)),
    }
    if recognizer.read_by == READ_BY_LINES:  # how often the page was cut into the lines its label has
        figures["lines_as_labelled"] = sum(
            len(recognizer.preprocess(image)) == truth.count("\n") + 1 for image, truth in zip(images, truths)
        )
    return figures


def main(argv: list[str] | None = None) -> int:
    from text_recognizer.data.iam_paragraphs import IAMParagraphs
    from text_recognizer.paragraph_text_recognizer import ParagraphTextRecognizer
    from text_recognizer.run_files import DEFAULT_MODEL_PATH
    from text_recognizer.stems.paragraph_core import LINE_DECODINGS, READ_BY
    from text_recognizer.util import DataUnavailableError
    from text_recognizer.vocabulary import convert_labels_to_strings

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    IAMParagraphs.add_to_argparse(parser)
    parser.add_argument("--model_path", default=str(DEFAULT_MODEL_PATH), help="model.pt or .ckpt")
    parser.add_argument("--splits", default=SPLITS, help="comma-separated: train, val, test, or a part of test: "
                        "test_train_family, test_unseen_family (the offline source's test writers of training and "
                        "of held-out font families)")
    parser.add_argument("--limit", type=int, default=LIMIT, help="paragraphs per split (the first ones; 0: all)")
    parser.add_argument("--scales", default="1", help="comma-separated scales to read each image at")
    parser.add_argument("--line_guard", choices=["on", "off", "both"], default="on",
                        help="decode with the line-length guard (as the recognizer does), without it, or both")
    parser.add_argument("--read_by", choices=READ_BY, default=None,
                        help="read each page whole or one line at a time (default: as the model was trained)")
    parser.add_argument("--line_decoding", choices=LINE_DECODINGS, default=None,
                        help="lines read one at a time: by the model's CTC head and its attention decoder jointly, "
                        "by either alone (default: joint where the model has a line CTC head, else attention)")
    parser.add_argument("--photos", action="store_true",
                        help="read every page also as a phone photo of it (deterministic), beside the clean page")
    parser.add_argument("--json", action="store_true", help="print one JSON object per split and scale")
    args = parser.parse_args(argv)
    splits = [split.strip() for split in args.splits.split(",") if split.strip()]
    subsets = [split for split in splits if split.startswith(TEST_SUBSET_PREFIX)]
    unknown = sorted(set(splits) - {"train", "val", "test", *subsets})
    if unknown:
        parser.error(f"unknown splits {unknown}: choose among train, val, test, test_train_family, test_unseen_family")
    scales = [float(scale) for scale in args.scales.split(",")]

    data = IAMParagraphs(args)
    try:
        data.prepare_data()
        data.setup()
        guards = {"on": [True], "off": [False], "both": [True, False]}[args.line_guard]
        recognizers = {guard: ParagraphTextRecognizer(args.model_path, guard_lines=guard, read_by=args.read_by,
                                                        line_decoding=args.line_decoding) for guard in guards}
    except (DataUnavailableError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for split in splits:
        dataset = getattr(data, f"data_{split}" if split not in subsets else "data_test")
        indices = list(range(len(dataset)))
        if split in subsets:  # the test samples (named by form id) of that subset
            subset = data.iam.test_subsets.get(split[len(TEST_SUBSET_PREFIX):])
            if subset is None:
                print(f"error: this source has no test subset {split!r} (it has: "
                      f"{', '.join(TEST_SUBSET_PREFIX + name for name in data.iam.test_subsets) or 'none'})", file=sys.stderr)
                return 1
            wanted = set(subset)
            indices = [i for i, filename in enumerate(dataset.filenames) if Path(filename).stem in wanted]
        indices = indices if args.limit <= 0 else indices[: args.limit]
        if not indices:  # a small tree may have no writer of a subset
            print(f"{split:18} no paragraphs", flush=True)
            continue
        truths = convert_labels_to_strings(dataset.labels[indices], data.mapping)
        filenames = [dataset.filenames[i] for i in indices]
        for scale in scales:
            for (guard, recognizer), photos in itertools.product(recognizers.items(), [False, True] if args.photos else [False]):
                figures = {"split": split, "scale": scale, "line_guard": guard, "photos": photos,
                           **evaluate(recognizer, filenames, truths, scale, photos)}
                if args.json:
                    print(json.dumps(figures))
                else:
                    print(f"{split:18} x{scale:<4g} {figures['paragraphs']:4d} {'photos' if photos else 'paragraphs'}"
                          f"{'' if guard else ' (no line guard)'}: "
                          f"standard CER {figures['cer_standard']:.3f}, reference CER {figures['cer_reference']:.3f} "
                          f"({figures['seconds_per_paragraph']:.2f} s a paragraph)"
                          + (f"; {figures['lines_as_labelled']} cut into as many lines as labelled"
                             if "lines_as_labelled" in figures else ""), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
