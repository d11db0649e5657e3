"""`make demo`: the whole life of a model in a few minutes, on the offline handwriting source.

1. builds the offline IAM-format data (--iam_source=rendered) and the paragraph caches;
2. trains a small ResnetTransformer briefly through run_experiment and prints its metrics;
3. selects that run with save_best_model into demo_artifacts/ (the shipped model is not touched);
4. reads a few test paragraphs with the shipped model and prints prediction, truth and CER.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO_DIRNAME = ROOT / "demo_artifacts"
NUM_PARAGRAPHS = 4
# A small offline source of its own, in the faces installed with the project ("pypi"): it fetches nothing
# and renders in seconds (the default, 1600 forms in 83 families, takes minutes). Its test writers are
# new writers: one of a training family, two of held-out families (Satisfy, the Hershey scripts).
DEMO_SOURCE = {"iam_source": "rendered", "iam_rendered_forms": 120, "iam_rendered_writers": 12, "iam_rendered_fonts": "pypi"}
# Small enough for a few minutes on 2 CPU cores; the shipped model uses the default sizes.
TRAINING_FLAGS = [
    *(f"--{name}={value}" for name, value in DEMO_SOURCE.items()), "--data_class=IAMParagraphs", "--model_class=ResnetTransformer",
    "--loss=transformer", "--tf_dim=64", "--tf_fc_dim=128", "--tf_layers=2", "--tf_nhead=2",
    "--batch_size=4", "--max_epochs=2", "--limit_train_batches=12", "--limit_val_batches=1",
    "--limit_test_batches=1", "--num_sanity_val_steps=0", "--precision=auto", "--lr=0.001",
    "--log_every_n_steps=4",
]


def step(number: int, title: str) -> float:
    print(f"\n=== {number}/4 {title}", flush=True)
    return time.perf_counter()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--paragraphs", type=int, default=NUM_PARAGRAPHS, help="test paragraphs to read")
    parser.add_argument("--skip_training", action="store_true", help="only read paragraphs with the shipped model")
    args = parser.parse_args(argv)
    os.environ.setdefault("WANDB_MODE", "disabled")

    from text_recognizer.data.iam_paragraphs import IAMParagraphs
    from text_recognizer.data.sources.iam_crops import CropDataset
    from text_recognizer.lit_models.metrics import character_error_rate
    from text_recognizer.paragraph_text_recognizer import ParagraphTextRecognizer
    from text_recognizer.run_files import DEFAULT_MODEL_PATH
    from text_recognizer.vocabulary import convert_labels_to_strings

    started = step(1, "building the offline handwriting data (first run only)")
    data = IAMParagraphs(argparse.Namespace(**DEMO_SOURCE, augment_data=False))
    data.prepare_data()
    data.setup()
    print(data)
    print(f"({time.perf_counter() - started:.0f} s)")

    if not args.skip_training:
        from text_recognizer.training import run_experiment, save_best_model

        started = step(2, "training a small ResnetTransformer for a few minutes")
        log_dir = DEMO_DIRNAME / "logs"
        flags = [*TRAINING_FLAGS, f"--log_dir={log_dir}"]
        result = run_experiment.run(run_experiment.build_parser(flags).parse_args(flags),
                                    command=["python", "training/run_experiment.py", *flags])
        print(f"test metrics: {result['test_metrics']} ({time.perf_counter() - started:.0f} s)")

        step(3, "selecting the best demo run with save_best_model")
        save_best_model.main(["--local", str(log_dir), "--trained_data_class=IAMParagraphs",
                              "--metric=val_loss", f"--artifacts_dir={DEMO_DIRNAME}"])

    step(4, f"reading {args.paragraphs} test paragraphs with the shipped model")
    model_path = DEFAULT_MODEL_PATH
    if not model_path.exists():
        model_path = DEMO_DIRNAME / "paragraph_text_recognizer" / "model.pt"
        print(f"no shipped model at {DEFAULT_MODEL_PATH}; using the demo model, which has trained for minutes only")
    recognizer = ParagraphTextRecognizer(model_path)
    test = data.data_test
    if not isinstance(test, CropDataset):  # IAMParagraphs' splits are crop datasets: files and labels
        raise TypeError(f"expected IAMParagraphs' test split to be a CropDataset, got {type(test).__name__}")
    images = test.filenames[: args.paragraphs]  # the cached crops, exactly as a user would pass files
    truths = convert_labels_to_strings(test.labels[: args.paragraphs], data.mapping)
    total_cer = 0.0
    for index, (prediction, truth) in enumerate(zip(recognizer.predict_batch(images), truths)):
        cer = character_error_rate([prediction.text], [truth])
        total_cer += cer
        print(f"\n--- paragraph {index + 1}: CER {cer:.3f}, confidence {prediction.confidence:.2f}")
        shown = prediction.text if prediction.text.strip() else f"{prediction.text!r} (only blanks: the model is barely trained)"
        print(f"prediction:\n{shown}\ntruth:\n{truth}")
    print(f"\nmean CER over {len(truths)} paragraphs: {total_cer / max(1, len(truths)):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
