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


def write_quick_start_metrics(path):
    """metrics.csv as Lightning's CSVLogger writes it for the README's quick-start run (FakeImageData, CNN):
    columns sorted, a validation row and a training row per epoch, a test row at the end; no CER."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "metrics.csv").write_text(
        "epoch,samples_seen,step,test_acc,test_loss,time_min,train_acc,val_acc,val_loss\n"
        "0,512.0,3,,,0.093,,0.78125,2.021\n"
        "0,,3,,,,0.162,,\n"
        "1,1024.0,7,,,0.186,,1.0,1.321\n"
        "1,,7,,,,0.662,,\n"
        "2,,8,1.0,1.301,,,,\n"
    )
    return path


def test_a_run_without_cer_plots_what_it_logged_and_several_labels_follow_one_flag(tmp_path, capsys):
    """Issue 34: the quick-start run (val_acc, val_loss) was refused for lacking val_cer, and `--label a b`
    was refused."""
    import matplotlib.pyplot as plt

    from training.plot_learning_curve import choose_metrics, plot, read_validation_rows

    first, second = write_quick_start_metrics(tmp_path / "a"), write_quick_start_metrics(tmp_path / "b")
    output = tmp_path / "quick.png"
    assert main([str(first), str(second), "--label", "a", "b", "--output", str(output)]) == 0
    assert output.stat().st_size > 10_000 and f"wrote {output}" in capsys.readouterr().out
    runs = [("a", read_validation_rows(first))]
    assert [row["val_acc"] for row in runs[0][1]] == [0.78125, 1.0]  # the training and test rows left out
    assert choose_metrics(runs) == ("val_acc",) and choose_metrics(runs, "val_loss") == ("val_loss",)
    figure = plot(runs, tmp_path / "loss.png", "loss", metric="val_loss")
    assert figure.axes[0].get_ylabel() == "val_loss" and figure.axes[0].get_ylim()[1] > 2.0  # not cut at 1.2
    plt.close(figure)
    with_cer = write_metrics(tmp_path / "cer", [
        {"epoch": 0, "step": 9, "time_min": 1.5, "samples_seen": 160, "val_cer": 0.9, "val_cer_standard": 1.2, "val_loss": 3.0},
    ])
    assert choose_metrics([("c", read_validation_rows(with_cer))]) == ("val_cer", "val_cer_standard")


def test_a_metric_a_run_did_not_log_and_a_wrong_label_count_are_clear_errors(tmp_path, capsys):
    run = write_quick_start_metrics(tmp_path / "a")
    assert main([str(run), "--metric", "val_cer", "--output", str(tmp_path / "x.png")]) == 1
    err = capsys.readouterr().err
    assert "did not log val_cer" in err and "val_acc, val_loss" in err and "--metric" in err
    with pytest.raises(SystemExit) as stop:
        main([str(run), "--label", "a", "b", "--output", str(tmp_path / "x.png")])
    assert stop.value.code == 2 and "1 runs but 2 --label values" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()
