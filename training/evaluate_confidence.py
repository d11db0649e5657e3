"""How well each candidate per-line confidence finds the wrong lines: AUROC for "line CER above 0.1".

    python training/evaluate_confidence.py --iam_source=rendered --splits=test_unseen_family --limit=60 \
        --photos --plot=docs/figures/confidence_reliability.png

Each page is read as the recognizer reads it (normalized, cut into lines, each line read jointly by the
line CTC head and the attention decoder); its true lines are its label split at "\\n". A page cut into
another number of lines than its label has is left out (and counted): lines are paired by index only.
For every line the script computes several confidences from the same forward passes:

- joint_per_char: exp(joint score / (characters + 1)), the joint score (0.3 CTC + 0.7 attention log-likelihood,
  joint_decoding.py) per character of the chosen text: before, the page's confidence over all its lines;
  now each line's, as both backends compute it (what the recognizer ships: it ranked best);
- mean_log_prob: exp of the attention decoder's mean per-token log-probability of the chosen text;
- min_token: the attention decoder's smallest per-token probability of the chosen text (<E> included);
- ctc_min: the CTC head's smallest frame probability among the frames that wrote a character;
- agreement: 1 - the edit distance between the CTC head's and the attention decoder's texts, over the
  longer one's length;
- agreement_x_min_token, agreement_x_mean_log_prob: products.

It prints the AUROC of each (higher confidence = right line), on clean pages and on photos of them
(text_recognizer/data/synthetic/photo_effects.py), and plots the shipped measure's reliability.
`--rows` keeps every line's figures; `--from_rows` prints and plots them again without reading.
Torch backend only (the ONNX backend's predict_joint returns the same joint score).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

MEASURES = ("joint_per_char", "mean_log_prob", "min_token", "ctc_min", "agreement", "agreement_x_min_token",
            "agreement_x_mean_log_prob")
SHIPPED = "joint_per_char"
WRONG_CER = 0.1  # a line read with a CER above this is "wrong"
LINE_BATCH = 16


def auroc(scores: np.ndarray, positives: np.ndarray) -> float:
    """Probability that a random positive scores above a random negative (ties count half): the area under
    the ROC curve, by ranks (Mann-Whitney U). NaN when either class is empty.

    >>> auroc(np.array([0.9, 0.8, 0.3, 0.1]), np.array([True, True, False, False]))
    1.0
    >>> auroc(np.array([0.5, 0.5]), np.array([True, False]))
    0.5
    """
    from scipy.stats import rankdata

    positives = positives.astype(bool)
    n_pos, n_neg = int(positives.sum()), int((~positives).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def reading_agreement(ctc_text: str, attention_text: str) -> float:
    """How far a line's two readers agree, in [0, 1]: 1 - their texts' edit distance over the longer one's
    length (1 when both are empty).

    >>> reading_agreement("the cat", "the cat"), reading_agreement("abcd", "abed"), reading_agreement("", "")
    (1.0, 0.75, 1.0)
    """
    import editdistance

    longer = max(len(ctc_text), len(attention_text))
    return 1.0 - editdistance.eval(ctc_text, attention_text) / longer if longer else 1.0


def report(name: str, rows: list[dict[str, Any]], pages: int, skipped: int) -> None:
    wrong = np.array([row["cer"] > WRONG_CER for row in rows])
    print(f"{name}: {pages} pages, {skipped} cut into another number of lines than labelled (left out), "
          f"{len(rows)} lines, {int(wrong.sum())} with CER > {WRONG_CER}", flush=True)
    for measure_name in MEASURES:
        scores = np.array([row[measure_name] for row in rows])
        print(f"  AUROC {measure_name:26} {auroc(scores, ~wrong):.3f}   mean {scores.mean():.3f}", flush=True)


def line_measures(recognizer: Any, lines: list[Any]) -> list[dict[str, Any]]:
    """Line tensors (the recognizer's `prepare(...).inputs`) -> per line the chosen text and every measure."""
    import torch

    from text_recognizer.joint_decoding import JOINT_CTC_WEIGHT, ctc_log_likelihoods, joint_choice
    from text_recognizer.models import decoding
    from text_recognizer.stems.paragraph import pad_batch
    from text_recognizer.vocabulary import Vocabulary, trim_padding

    model = recognizer.model
    vocabulary = Vocabulary(recognizer.mapping)
    assert vocabulary.blank is not None
    max_length = model.data_config["output_dims"][0]
    with torch.inference_mode():
        x = pad_batch(lines).to(recognizer.device)
        features = model.feature_map(x)
        ctc_log_probs = model.ctc_log_probs(features)
        memory = model.memory(features)
        attention_tokens, _ = decoding.greedy_decode(model.decoder, memory, max_length, line_limits=model.line_limits(x))
        ctc_tokens, _ = model._ctc_best_path(ctc_log_probs, max_length)
        # cut to the longest text, as predict_joint does: a teacher-forced pass over every position costs 4x
        both = trim_padding(np.concatenate([ctc_tokens, attention_tokens.cpu().numpy()]), model.decoder.padding_token)
        candidates = np.split(both, 2)
        attention_scores = [model.decoder.sequence_log_likelihood(memory, torch.from_numpy(c).to(x.device)).cpu().numpy()
                            for c in candidates]
        ctc_scores = [ctc_log_likelihoods(ctc_log_probs, vocabulary.texts(c), vocabulary.blank) for c in candidates]
        tokens, scores = joint_choice(candidates, ctc_scores, attention_scores, JOINT_CTC_WEIGHT)
        # per-token log-probabilities of the chosen text, teacher-forced
        chosen = torch.from_numpy(tokens).to(x.device)
        every = torch.log_softmax(model.decoder.sequence_logits(memory, chosen[:, :-1]).float(), dim=-1)
        token_log_probs: np.ndarray = every.gather(-1, chosen[:, 1:, None])[..., 0].cpu().numpy()
    written = tokens[:, 1:] != model.decoder.padding_token
    texts = vocabulary.decode(tokens)
    ctc_texts, attention_texts = vocabulary.decode(candidates[0]), vocabulary.decode(candidates[1])
    frame_best = ctc_log_probs.argmax(-1)
    results = []
    for row, text in enumerate(texts):
        row_log_probs = token_log_probs[row][written[row]]
        path = frame_best[row]
        starts = np.flatnonzero((path != vocabulary.blank) & np.concatenate(([True], path[1:] != path[:-1])))
        ctc_min = float(np.exp(ctc_log_probs[row, starts, path[starts]].min())) if starts.size else 1.0
        agreement = reading_agreement(ctc_texts[row], attention_texts[row])
        min_token = float(np.exp(row_log_probs.min())) if row_log_probs.size else 1.0
        results.append({
            "text": text,
            "joint_per_char": float(np.exp(scores[row] / (len(text) + 1))),
            "mean_log_prob": float(np.exp(row_log_probs.mean())) if row_log_probs.size else 1.0,
            "min_token": min_token,
            "ctc_min": ctc_min,
            "agreement": agreement,
            "agreement_x_min_token": agreement * min_token,
            "agreement_x_mean_log_prob": agreement * (float(np.exp(row_log_probs.mean())) if row_log_probs.size else 1.0),
        })
    return results


def measure(recognizer: Any, images: list[Any], truths: list[str]) -> tuple[list[dict[str, Any]], int]:
    """Every paired line's measures and CER, and how many pages were cut into another number of lines."""
    import editdistance

    rows: list[dict[str, Any]] = []
    skipped = 0
    for image, truth in zip(images, truths):
        lines = recognizer.prepare(image).inputs
        true_lines = truth.split("\n")
        if len(lines) != len(true_lines):
            skipped += 1
            continue
        found = []
        for start in range(0, len(lines), LINE_BATCH):
            found += line_measures(recognizer, lines[start : start + LINE_BATCH])
        for result, true_line in zip(found, true_lines):
            result["cer"] = editdistance.eval(result["text"], true_line) / max(len(true_line), 1)
            rows.append(result)
    return rows, skipped


def reliability_plot(groups: dict[str, list[dict[str, Any]]], measure_name: str, path: Path, bins: int = 10) -> None:
    """Confidence bins (equal width) against the fraction of their lines read with CER <= WRONG_CER."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(5, 4))
    edges = np.linspace(0, 1, bins + 1)
    for name, rows in groups.items():
        confidence = np.array([row[measure_name] for row in rows])
        right = np.array([row["cer"] <= WRONG_CER for row in rows])
        which = np.clip(np.digitize(confidence, edges) - 1, 0, bins - 1)
        centers, fractions, counts = [], [], []
        for b in range(bins):
            if (which == b).any():
                centers.append((edges[b] + edges[b + 1]) / 2)
                fractions.append(right[which == b].mean())
                counts.append(int((which == b).sum()))
        axes.plot(centers, fractions, marker="o", label=f"{name} ({len(rows)} lines)")
        for x, y, n in zip(centers, fractions, counts):
            axes.annotate(str(n), (x, y), textcoords="offset points", xytext=(0, 5), fontsize=7, ha="center")
    axes.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    axes.set_xlabel(f"line confidence ({measure_name}), bin centre")
    axes.set_ylabel(f"fraction of lines with CER <= {WRONG_CER}")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.05)
    axes.legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> int:
    from text_recognizer.data.iam_paragraphs import IAMParagraphs
    from text_recognizer.paragraph_text_recognizer import ParagraphTextRecognizer
    from text_recognizer.run_files import DEFAULT_MODEL_PATH
    from text_recognizer.stems.paragraph_core import READ_BY_LINES
    from text_recognizer.util import DataUnavailableError
    from text_recognizer.vocabulary import convert_labels_to_strings
    from training.evaluate_model import TEST_SUBSET_PREFIX

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    IAMParagraphs.add_to_argparse(parser)
    parser.add_argument("--model_path", default=str(DEFAULT_MODEL_PATH), help="model.pt or .ckpt with a line CTC head")
    parser.add_argument("--splits", default="test_unseen_family", help="comma-separated: val, test, test_unseen_family, ...")
    parser.add_argument("--limit", type=int, default=60, help="pages per split (the first ones; 0: all)")
    parser.add_argument("--photos", action="store_true", help="also read each page as a phone photo of it")
    parser.add_argument("--rows", type=Path, default=None, help="write every line's measures and CER here (JSON)")
    parser.add_argument("--plot", type=Path, default=None, help="write the reliability plot of the shipped measure here")
    parser.add_argument("--from_rows", type=Path, default=None, help="a --rows file: report and plot it, read nothing")
    args = parser.parse_args(argv)
    if args.from_rows is not None:
        saved: dict[str, dict[str, Any]] = json.loads(args.from_rows.read_text())
        for name, group in saved.items():
            report(name, group["lines"], group["pages"], group["skipped"])
        if args.plot is not None:
            reliability_plot({name: group["lines"] for name, group in saved.items()}, SHIPPED, args.plot)
        return 0

    data = IAMParagraphs(args)
    try:
        data.prepare_data()
        data.setup()
        recognizer = ParagraphTextRecognizer(args.model_path, backend="torch")
    except (DataUnavailableError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if recognizer.read_by != READ_BY_LINES or recognizer.ctc_decoding is None:
        print("error: the model must read by lines with a line CTC head (joint decoding)", file=sys.stderr)
        return 1
    from PIL import Image

    from text_recognizer.data.synthetic.photo_effects import photograph

    groups: dict[str, dict[str, Any]] = {}
    for split in [s.strip() for s in args.splits.split(",") if s.strip()]:
        dataset = getattr(data, "data_test" if split.startswith(TEST_SUBSET_PREFIX) else f"data_{split}")
        indices = list(range(len(dataset)))
        if split.startswith(TEST_SUBSET_PREFIX):
            wanted = set(data.iam.test_subsets.get(split[len(TEST_SUBSET_PREFIX):], []))
            indices = [i for i, filename in enumerate(dataset.filenames) if Path(filename).stem in wanted]
        indices = indices if args.limit <= 0 else indices[: args.limit]
        truths = convert_labels_to_strings(dataset.labels[indices], data.mapping)
        pages = []
        for i in indices:
            with Image.open(dataset.filenames[i]) as file:
                pages.append(file.convert("L"))
        kinds = {"clean": pages}
        if args.photos:  # the same photo of the same page every run, as evaluate_model.py makes them
            kinds["photos"] = [photograph(page, seed=n) for n, page in enumerate(pages)]
        for kind, images in kinds.items():
            rows, skipped = measure(recognizer, images, truths)
            name = f"{split} {kind}"
            groups[name] = {"pages": len(images), "skipped": skipped, "lines": rows}
            report(name, rows, len(images), skipped)
    if args.rows is not None:
        args.rows.write_text(json.dumps(groups, indent=0))
    if args.plot is not None and groups:
        reliability_plot({name: group["lines"] for name, group in groups.items()}, SHIPPED, args.plot)
        print(f"reliability plot of {SHIPPED}: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main())
