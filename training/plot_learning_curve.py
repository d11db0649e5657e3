"""Plot validation CER (both metrics) against training minutes and samples seen, for one or more runs.

    python training/plot_learning_curve.py training/logs/csv/version_0 --label "new recipe" --output curve.png
    python training/plot_learning_curve.py training/logs/stage2/csv/version_0 --ymax 0.2   # a later stage, close up

Each run is a run folder (or its metrics.csv) written by run_experiment.py, whose TrainingClock logs
`time_min` and `samples_seen` with every validation. Several runs go on the same axes.
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import Any

METRICS = ("val_cer", "val_cer_standard")
DEFAULT_YMAX = 1.2  # from a fresh model (CER about 1) down
X_AXES = (("time_min", "training minutes (wall clock, validation included)"), ("samples_seen", "training samples seen"))


def read_validation_rows(path: Path) -> list[dict[str, float]]:
    """The rows of metrics.csv that hold a validation CER, as floats (empty cells dropped)."""
    filename = path / "metrics.csv" if path.is_dir() else path
    if not filename.is_file():
        raise FileNotFoundError(f"no metrics.csv at {path}: pass a run folder of run_experiment.py or its metrics.csv")
    rows = []
    with filename.open(newline="") as file:
        for row in csv.DictReader(file):
            values = {key: float(value) for key, value in row.items() if key and value not in ("", None)}
            if "val_cer" in values:
                rows.append(values)
    if not rows:
        raise ValueError(f"{filename} holds no validation rows (val_cer): did the run validate?")
    missing = [x for x, _ in X_AXES if x not in rows[0]]
    if missing:
        raise ValueError(f"{filename} has no {', '.join(missing)}: it was written before run_experiment logged them")
    return rows


def plot(runs: list[tuple[str, list[dict[str, float]]]], output: Path, title: str, ymax: float = DEFAULT_YMAX) -> Any:
    """Both metrics of every run against minutes and samples, written to `output`; returns the figure."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    for axis, (x_name, x_label) in zip(axes, X_AXES):
        for index, (label, rows) in enumerate(runs):
            for metric, style in zip(METRICS, ("-o", "--s")):  # one colour per run, one line style per metric
                points = [(row[x_name], row[metric]) for row in rows if metric in row]
                if points:
                    axis.plot(*zip(*points), style, color=f"C{index}", markersize=3, label=f"{label}: {metric}")
        axis.set_xlabel(x_label)
        axis.grid(alpha=0.3)
    axes[0].set_ylabel(f"validation CER (above {ymax:g}: off the chart)")
    axes[0].set_ylim(0, ymax)
    axes[1].legend(fontsize=8)
    figure.suptitle(title)
    figure.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output, dpi=110)
    return figure


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders (or metrics.csv files)")
    parser.add_argument("--label", action="append", default=None, help="one legend label per run, in order")
    parser.add_argument("--output", type=Path, default=Path("learning_curve.png"), help="PNG to write")
    parser.add_argument("--title", default="Learning curves", help="title above the plots")
    parser.add_argument("--ymax", type=float, default=DEFAULT_YMAX,
                        help="top of the CER axis: a model that already reads (say 0.2) shows its curve, not a flat line")
    args = parser.parse_args(argv)
    if not args.ymax > 0:
        parser.error(f"--ymax must be above 0, got {args.ymax:g}")
    labels = args.label or [str(run) for run in args.runs]
    if len(labels) != len(args.runs):
        parser.error(f"{len(args.runs)} runs but {len(labels)} --label values")
    try:
        runs = [(label, read_validation_rows(run)) for label, run in zip(labels, args.runs)]
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    plot(runs, args.output, args.title, args.ymax)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
