"""The benchmark scripts run end to end and print their tables (tiny settings: this is not a timing)."""
import pytest

from training import benchmark_data, benchmark_decoding


@pytest.mark.slow
def test_benchmark_decoding_prints_decoding_and_training_rows(capsys):
    argv = ["--batch_sizes", "2", "--lengths", "6", "--naive_full", "--train_batch", "1", "--train_lengths", "5",
            "--train_steps", "1", "--threads", "0"]
    assert benchmark_decoding.main(argv) == 0
    out = capsys.readouterr().out
    decoding_row = next(line.split() for line in out.splitlines() if line.split()[:2] == ["2", "6"])
    assert decoding_row[-1].endswith("x") and "skipped" not in decoding_row  # the naive decoder ran too
    assert [line.split()[:2] for line in out.splitlines() if line.strip().startswith("5 ")] == [["5", "fp32"], ["5", "bf16"]]


def test_benchmark_data_times_the_loader_and_a_step_on_trimmed_labels(tiny_iam_dirs, monkeypatch, capsys):
    from conftest import TINY_IAM_FLAGS, use_data_dir

    use_data_dir(monkeypatch, tiny_iam_dirs["root"])
    flags = [f"--{name}={value}" for name, value in TINY_IAM_FLAGS.items()]
    benchmark_data.main([*flags, "--batch_size=2", "--num_workers_list=0", "--loader_batches=2", "--model_steps=1",
                         "--elastic_displacement=2"])
    out = capsys.readouterr().out
    assert "train loader, num_workers=0" in out
    assert "elastic distortion of a " in out and "torchvision's ElasticTransform" in out
    model_row = next(line for line in out.splitlines() if "ResnetTransformer training step" in line)
    length = int(model_row.split("labels cut to ")[1].split()[0])
    assert 2 < length < 682  # the tiny paragraphs are far shorter than the padded label


@pytest.mark.slow
def test_benchmark_decoding_serving_table_puts_torch_onnx_and_naive_side_by_side(capsys):
    import pytest

    pytest.importorskip("onnxruntime")
    argv = ["--serving", "--batch_sizes", "1", "4", "--serving_length", "6", "--serving_threads", "1", "--naive_full"]
    assert benchmark_decoding.main(argv) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines() if line.split()[:1] == ["1"]]
    assert [(row[1], row[2]) for row in rows] == [
        *(("1", name) for name in ("torch-cached", "onnx-cached", "naive", "floor")),
        *(("4", name) for name in ("torch-cached", "onnx-cached", "naive")),
    ]
    decoders = [row for row in rows if row[2] != "floor"]
    assert all(row[-1] in ("met", "missed") and row[-2].endswith("x") for row in decoders)
    floor = next(row for row in rows if row[2] == "floor")  # the reads every step makes, times the steps
    assert float(floor[3]) > 0 and floor[5].endswith("x") and "MB" in " ".join(floor)
