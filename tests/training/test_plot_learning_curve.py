"""plot_learning_curve.py: validation CER against minutes and samples, for several runs, clear errors."""
import csv

import pytest

from training.plot_learning_curve import main

FIELDS = ["epoch", "step", "time_min", "samples_seen", "train_loss", "val_cer", "val_cer_standard", "val_loss"]


def write_metrics(path, rows):
    path.mkdir(parents=True, exist_ok=True)
    with open(path / "metrics.csv", "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_two_runs_on_the_same_axes(tmp_path, capsys):
    first = write_metrics(tmp_path / "a", [
        {"epoch": 0, "step": 9, "train_loss": 3.0},  # a training row: no validation, ignored
        {"epoch": 0, "step": 9, "time_min": 1.5, "samples_seen": 160, "val_cer": 0.9, "val_cer_standard": 1.2},
        {"epoch": 1, "step": 19, "time_min": 3.0, "samples_seen": 320, "val_cer": 0.5, "val_cer_standard": 0.6},
    ])
    second = write_metrics(tmp_path / "b", [
        {"epoch": 0, "step": 9, "time_min": 2.0, "samples_seen": 40, "val_cer": 0.95, "val_cer_standard": 2.0},
    ])
    output = tmp_path / "curve.png"
    assert main([str(first), str(second / "metrics.csv"), "--label", "new", "--label", "old", "--output", str(output)]) == 0
    assert output.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and output.stat().st_size > 10_000


def test_runs_without_a_clock_or_validation_are_clear_errors(tmp_path, capsys):
    old = write_metrics(tmp_path / "old", [{"epoch": 0, "step": 9, "val_cer": 0.9, "val_loss": 2.0}])
    assert main([str(old), "--output", str(tmp_path / "x.png")]) == 1
    assert "time_min" in capsys.readouterr().err
    empty = write_metrics(tmp_path / "empty", [{"epoch": 0, "step": 9, "train_loss": 3.0}])
    assert main([str(empty), "--output", str(tmp_path / "x.png")]) == 1
    assert "no validation rows" in capsys.readouterr().err
    assert main([str(tmp_path / "missing"), "--output", str(tmp_path / "x.png")]) == 1
    assert not (tmp_path / "x.png").exists()


def test_ymax_sets_the_top_of_the_cer_axis_so_a_later_stage_is_not_a_flat_line(tmp_path, capsys):
    import matplotlib.pyplot as plt

    from training.plot_learning_curve import plot, read_validation_rows

    run = write_metrics(tmp_path / "stage2", [
        {"epoch": 0, "step": 9, "time_min": 17, "samples_seen": 3200, "val_cer": 0.094, "val_cer_standard": 0.095},
        {"epoch": 5, "step": 59, "time_min": 102, "samples_seen": 22400, "val_cer": 0.058, "val_cer_standard": 0.059},
    ])
    figure = plot([("stage 2", read_validation_rows(run))], tmp_path / "close.png", "stage 2", ymax=0.12)
    assert figure.axes[0].get_ylim() == (0, 0.12)
    plt.close(figure)
    assert main([str(run), "--ymax", "0.12", "--output", str(tmp_path / "cli.png")]) == 0
    assert (tmp_path / "cli.png").stat().st_size > 10_000
    for bad in ("0", "-1"):
        with pytest.raises(SystemExit) as stop:
            main([str(run), "--ymax", bad, "--output", str(tmp_path / "bad.png")])
        assert stop.value.code == 2 and "--ymax must be above 0" in capsys.readouterr().err
    assert not (tmp_path / "bad.png").exists()
