"""Plot a validation metric against training minutes and samples seen, for one or more runs.

    python training/plot_learning_curve.py training/logs/csv/version_0 --label "new recipe" --output curve.png
    python training/plot_learning_curve.py training/logs/stage2/csv/version_0 --ymax 0.2   # a later stage, close up
    python training/plot_learning_curve.py RUN_A RUN_B --label a b --metric val_loss

The metric is the run's CER (val_cer and val_cer_standard) where it logged one, else val_acc, else
val_loss (the README's quick-start CNN logs those two); --metric names any other column.

Each run is a run folder (or its metrics.csv) written by run_experiment.py, whose TrainingClock logs
`time_min` and `samples_seen` with every validation. Several runs go on the same axes.
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import Any

# What a run's curve shows unless --metric says: its CER (both kinds) where it logged one, else what a
# model without text logs (the README's quick-start CNN logs val_acc and val_loss).
CER_METRICS = ("val_cer", "val_cer_standard")
FALLBACK_METRICS = ("val_acc", "val_loss")
DEFAULT_YMAX = {"val_cer": 1.2, "val_cer_standard": 1.2, "val_acc": 1.05}  # CER: from a fresh model (about 1) down
X_AXES = (("time_min", "training minutes (wall clock, validation included)"), ("samples_seen", "training samples seen"))


def read_validation_rows(path: Path) -> list[dict[str, float]]:
    """The rows of metrics.csv that hold a validation metric (val_*), as floats (empty cells dropped)."""
    filename = path / "metrics.csv" if path.is_dir() else path
    if not filename.is_file():
        raise FileNotFoundError(f"no metrics.csv at {path}: pass a run folder of run_experiment.py or its metrics.csv")
    rows = []
    with filename.open(newline="") as file:
        for row in csv.DictReader(file):
            values = {key: float(value) for key, value in row.items() if key and value not in ("", None)}
            if any(key.startswith("val_") for key in values):
                rows.append(values)
    if not rows:
        raise ValueError(f"{filename} holds no validation rows (val_*): did the run validate?")
    missing = [x for x, _ in X_AXES if x not in rows[0]]
    if missing:
        raise ValueError(f"{filename} has no {', '.join(missing)}: it was written before run_experiment logged them")
    return rows


def choose_metrics(runs: list[tuple[str, list[dict[str, float]]]], metric: str | None = None) -> tuple[str, ...]:
    """The metrics to draw: `metric` when given, else val_cer (with val_cer_standard), else val_cer_standard,
    else val_acc, else val_loss: the first that any run logged. Every run must have logged them."""
    logged = [{key for row in rows for key in row} for _, rows in runs]
    if metric is not None:
        chosen: tuple[str, ...] = (metric,)
    else:
        everything = set().union(*logged)
        if "val_cer" in everything:
            chosen = tuple(m for m in CER_METRICS if m in everything)
        else:
            found = [m for m in (*CER_METRICS[1:], *FALLBACK_METRICS) if m in everything]
            if not found:
                raise ValueError(f"no run logged {', '.join((*CER_METRICS, *FALLBACK_METRICS))}: pass --metric")
            chosen = (found[0],)
    for (label, _), keys in zip(runs, logged):
        if chosen[0] not in keys:
            others = ", ".join(sorted(key for key in keys if key.startswith("val_"))) or "none"
            raise ValueError(f"run {label} did not log {chosen[0]} (its validation metrics: {others}): pass --metric")
    return chosen


def plot(runs: list[tuple[str, list[dict[str, float]]]], output: Path, title: str, ymax: float | None = None,
         metric: str | None = None) -> Any:
    """The chosen metrics (choose_metrics) of every run against minutes and samples, written to `output`;
    returns the figure. `ymax`: the top of the metric's axis (default: by metric, or matplotlib's)."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    metrics = choose_metrics(runs, metric)
    figure, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    for axis, (x_name, x_label) in zip(axes, X_AXES):
        for index, (label, rows) in enumerate(runs):
            for name, style in zip(metrics, ("-o", "--s")):  # one colour per run, one line style per metric
                points = [(row[x_name], row[name]) for row in rows if name in row and x_name in row]
                if points:
                    axis.plot(*zip(*points), style, color=f"C{index}", markersize=3, label=f"{label}: {name}")
        axis.set_xlabel(x_label)
        axis.grid(alpha=0.3)
    top = ymax if ymax is not None else DEFAULT_YMAX.get(metrics[0])
    what = "validation CER" if metrics[0] in CER_METRICS else metrics[0]
    axes[0].set_ylabel(f"{what} (above {top:g}: off the chart)" if top is not None else what)
    axes[0].set_ylim(0, top)
    axes[1].legend(fontsize=8)
    figure.suptitle(title)
    figure.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output, dpi=110)
    return figure


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders (or metrics.csv files)")
    parser.add_argument("--label", action="extend", nargs="+", default=None,
                        help="one legend label per run, in order (--label a b, or --label a --label b)")
    parser.add_argument("--metric", default=None,
                        help="the metrics.csv column to plot (default: val_cer with val_cer_standard, else "
                        "val_cer_standard, else val_acc, else val_loss: the first the runs logged)")
    parser.add_argument("--output", type=Path, default=Path("learning_curve.png"), help="PNG to write")
    parser.add_argument("--title", default="Learning curves", help="title above the plots")
    parser.add_argument("--ymax", type=float, default=None,
                        help="top of the metric's axis (default: 1.2 for CER, 1.05 for accuracy, else automatic): "
                        "a model that already reads (say 0.2) shows its curve, not a flat line")
    args = parser.parse_args(argv)
    if args.ymax is not None and not args.ymax > 0:
        parser.error(f"--ymax must be above 0, got {args.ymax:g}")
    labels = args.label or [str(run) for run in args.runs]
    if len(labels) != len(args.runs):
        parser.error(f"{len(args.runs)} runs but {len(labels)} --label values")
    try:
        runs = [(label, read_validation_rows(run)) for label, run in zip(labels, args.runs)]
        plot(runs, args.output, args.title, args.ymax, args.metric)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
