"""The ONNX backend: export, parity with the torch backend, and no torch in its process."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from serving_fixtures import exported_small_model, shared_paragraphs, shared_small_model

from text_recognizer import onnx_model
from text_recognizer.paragraph_text_recognizer import ParagraphTextRecognizer
from text_recognizer.run_files import DEFAULT_MODEL_PATH

ROOT = Path(__file__).resolve().parents[1]
CONFIDENCE_TOLERANCE = 1e-3
NUM_PARAGRAPHS = 6


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return shared_small_model(tmp_path_factory)


@pytest.fixture(scope="module")
def paragraphs(tmp_path_factory):
    return shared_paragraphs(tmp_path_factory, NUM_PARAGRAPHS)


def assert_same_predictions(model_path, files):
    torch_predictions = ParagraphTextRecognizer(model_path, backend="torch").predict_batch(files)
    onnx_predictions = ParagraphTextRecognizer(model_path, backend="onnx").predict_batch(files)
    for file, expected, got in zip(files, torch_predictions, onnx_predictions):
        assert got.text == expected.text, file
        assert abs(got.confidence - expected.confidence) < CONFIDENCE_TOLERANCE, file


def test_export_writes_three_graphs_and_a_description_beside_the_model(model_path):
    folder = model_path.parent
    config = json.loads((folder / onnx_model.CONFIG_FILENAME).read_text())
    assert all((folder / config[graph]).is_file() for graph in ("encoder", "decoder_step", "decoder_sequence"))
    assert config["mapping"][config["start_token"]] == "<S>" and config["num_layers"] == 2
    assert config["preprocessing"]["fixed_canvas"] is False and config["model_class"] == "ResnetTransformer"
    assert config["preprocessing"]["target_line_pitch"] == 48


def test_both_backends_read_offline_test_paragraphs_alike(model_path, paragraphs):
    files, _ = paragraphs
    assert len(files) >= 2
    assert_same_predictions(model_path, files)


def test_threads_reach_both_backends_and_torch_gets_its_own_back(model_path, paragraphs, monkeypatch):
    import torch

    files, _ = paragraphs
    onnx = ParagraphTextRecognizer(model_path, backend="onnx", threads=1)
    for session in (onnx.onnx_model.encoder, onnx.onnx_model.decoder_step):
        assert session.get_session_options().intra_op_num_threads == 1
    torch_backend = ParagraphTextRecognizer(model_path, backend="torch", threads=1)
    seen, predict = [], torch_backend.model.predict
    monkeypatch.setattr(torch_backend.model, "predict", lambda *a, **k: seen.append(torch.get_num_threads()) or predict(*a, **k))
    before = torch.get_num_threads()
    torch.set_num_threads(2)  # whatever the machine: the recognizer must change it, then give it back
    try:
        assert [p.text for p in torch_backend.predict_batch(files[:2])] == [p.text for p in onnx.predict_batch(files[:2])]
        assert seen == [1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    with pytest.raises(ValueError, match="threads must be at least 1"):
        ParagraphTextRecognizer(model_path, threads=0)


def test_batch_size_and_image_size_are_dynamic(model_path):
    onnx = ParagraphTextRecognizer(model_path, backend="onnx")
    torch_backend = ParagraphTextRecognizer(model_path, backend="torch")
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 256, size, dtype=np.uint8)) for size in [(40, 600), (576, 640), (97, 33)]]
    for batch_size in (1, 3):
        got = onnx.predict_batch(images, batch_size=batch_size)
        expected = torch_backend.predict_batch(images, batch_size=batch_size)
        assert [p.text for p in got] == [p.text for p in expected]


def test_decoder_step_cache_decodes_as_the_torch_cached_decoder(model_path):
    """Token for token at the full output length, forced (min_length) so that every step runs."""
    import torch

    from text_recognizer.model_file import load_model
    from text_recognizer.models import decoding

    model = load_model(model_path)
    graphs = onnx_model.OnnxTextModel(model_path)
    x = np.random.default_rng(1).random((2, 1, 64, 320), dtype=np.float32)
    length = model.decoder.max_output_length
    with torch.inference_mode():
        expected, expected_log_probs = decoding.greedy_decode(
            model.decoder, model.encode(torch.from_numpy(x)), length, min_length=length
        )
    tokens, log_probs = graphs.decode(graphs.encode(x), length, min_length=length)
    assert np.array_equal(tokens, expected.numpy())
    assert np.allclose(log_probs, expected_log_probs.numpy(), atol=1e-3)


def test_the_line_guard_is_the_torch_decoders(model_path):
    """The same texts and confidences with every row's lines capped (two caps low enough to end their text)."""
    import torch

    from text_recognizer.model_file import load_model
    from text_recognizer.models import decoding

    model = load_model(model_path)
    graphs = onnx_model.OnnxTextModel(model_path)
    x = np.random.default_rng(3).random((3, 1, 64, 320), dtype=np.float32)
    limits = np.array([2, 7, 1000])
    length = model.decoder.max_output_length
    with torch.inference_mode():
        expected, expected_log_probs = decoding.greedy_decode(
            model.decoder, model.encode(torch.from_numpy(x)), length, line_limits=torch.from_numpy(limits)
        )
    tokens, log_probs = graphs.decode(graphs.encode(x), length, line_limits=limits)
    assert np.array_equal(tokens, expected.numpy())
    assert np.allclose(log_probs, expected_log_probs.numpy(), atol=1e-3)
    unguarded, _ = graphs.decode(graphs.encode(x), length)
    assert not np.array_equal(tokens[:2], unguarded[:2])


@pytest.mark.slow
@pytest.mark.parametrize("stride", [8, 16])
def test_the_model_files_horizontal_stride_is_exported(tmp_path, stride):
    path = exported_small_model(tmp_path, horizontal_stride=stride)  # export itself checks the graphs against torch
    image = Image.fromarray(np.random.default_rng(2).integers(0, 256, (60, 500), dtype=np.uint8))
    assert_same_predictions(path, [image])


def test_the_onnx_backend_imports_no_torch(model_path, paragraphs):
    code = (
        "import sys\n"
        "from text_recognizer.paragraph_text_recognizer import ParagraphTextRecognizer\n"
        f"print(ParagraphTextRecognizer({str(model_path)!r}, backend='onnx').predict({str(paragraphs[0][0])!r}) is not None)\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision', 'pytorch_lightning', 'lightning'))\n"
        "print(heavy)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["True", "[]"]


def test_a_model_never_exported_is_a_clear_error(tmp_path):
    from serving_fixtures import save_small_model

    path = save_small_model(tmp_path / "model.pt")
    with pytest.raises(FileNotFoundError, match="export_model.py"):
        ParagraphTextRecognizer(path, backend="onnx")
    with pytest.raises(ValueError, match="backend"):
        ParagraphTextRecognizer(path, backend="tensorflow")


@pytest.mark.slow
@pytest.mark.skipif(not DEFAULT_MODEL_PATH.is_file(), reason=f"no model shipped yet at {DEFAULT_MODEL_PATH}")
def test_the_shipped_model_reads_alike_on_both_backends(tmp_path, paragraphs):
    from text_recognizer.training.export_model import export

    export(DEFAULT_MODEL_PATH, tmp_path)  # into a temporary folder: the artifacts are never written by tests
    files, _ = paragraphs
    torch_predictions = ParagraphTextRecognizer(DEFAULT_MODEL_PATH, backend="torch").predict_batch(files)
    onnx_predictions = ParagraphTextRecognizer(tmp_path, backend="onnx").predict_batch(files)
    for file, expected, got in zip(files, torch_predictions, onnx_predictions):
        assert got.text == expected.text, file
        assert abs(got.confidence - expected.confidence) < CONFIDENCE_TOLERANCE, file


def test_a_stale_export_is_refused(model_path, tmp_path):
    import shutil

    from serving_fixtures import save_small_model

    folder = tmp_path / "copy"
    shutil.copytree(model_path.parent, folder)
    save_small_model(folder / "model.pt", seed=1)  # the model file replaced, the graphs not re-exported
    with pytest.raises(ValueError, match="stale export"):
        ParagraphTextRecognizer(folder / "model.pt", backend="onnx")


def test_an_older_export_format_and_a_decode_past_the_trained_positions_are_clear_errors(model_path, tmp_path):
    import json
    import shutil

    graphs = onnx_model.OnnxTextModel(model_path)
    memory = graphs.encode(np.zeros((1, 1, 64, 64), dtype=np.float32))
    with pytest.raises(ValueError, match="positions the decoder was trained for"):
        graphs.start(memory, graphs.config["max_output_length"] + 1)
    folder = tmp_path / "format2"
    shutil.copytree(model_path.parent, folder)
    description = folder / onnx_model.CONFIG_FILENAME
    description.write_text(json.dumps({**json.loads(description.read_text()), "format": 2}))  # a step that grew its cache
    with pytest.raises(ValueError, match="re-export"):
        onnx_model.OnnxTextModel(folder)
    description.write_text(json.dumps({**json.loads(description.read_text()), "format": 3}))  # no memory_mask yet
    with pytest.raises(ValueError, match="no memory_mask.*re-export it with `make export`"):
        onnx_model.OnnxTextModel(folder)


def test_the_teacher_forced_graph_scores_texts_as_the_torch_decoder_does(model_path):
    """Joint reading's scores: texts of different lengths, each ended by <E> and padded, in one pass."""
    import torch

    from text_recognizer.model_file import load_model

    model = load_model(model_path)
    graphs = onnx_model.OnnxTextModel(model_path)
    start, end, pad = (graphs.config[name] for name in ("start_token", "end_token", "padding_token"))
    tokens = np.array([[start, 5, 9, end, pad, pad, pad], [start, 5, 9, 11, 7, 30, end]], dtype=np.int64)
    x = np.random.default_rng(2).random((2, 1, 64, 320), dtype=np.float32)
    with torch.inference_mode():
        expected = model.decoder.sequence_log_likelihood(model.encode(torch.from_numpy(x)), torch.from_numpy(tokens))
    got = graphs.sequence_log_likelihood(graphs.encode(x), tokens)
    assert got == pytest.approx(expected.numpy(), abs=1e-4)
    assert got[0] == pytest.approx(graphs.sequence_log_likelihood(graphs.encode(x[:1]), tokens[:1, :4])[0], abs=1e-4)


def _with_external_weights_outside(folder: Path) -> None:
    """encoder.onnx's weights moved to a file beside the folder, the graph naming it as ../weights.data."""
    import onnx

    graph = onnx.load(folder / onnx_model.ENCODER_FILENAME)
    onnx.save_model(graph, folder / onnx_model.ENCODER_FILENAME, save_as_external_data=True, location="weights.data")
    (folder / "weights.data").rename(folder.parent / "weights.data")
    graph = onnx.load(folder / onnx_model.ENCODER_FILENAME, load_external_data=False)
    for tensor in graph.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = "../weights.data"
    (folder / onnx_model.ENCODER_FILENAME).write_bytes(graph.SerializeToString())


def _damage(folder: Path, case: str) -> None:
    description = folder / onnx_model.CONFIG_FILENAME
    config = json.loads(description.read_text())
    encoder = folder / onnx_model.ENCODER_FILENAME
    if case == "truncated graph":
        encoder.write_bytes(encoder.read_bytes()[:5000])
    elif case == "bit-flipped graph":
        data = bytearray(encoder.read_bytes())
        data[:64] = bytes(b ^ 0xFF for b in data[:64])
        encoder.write_bytes(bytes(data))
    elif case == "swapped graphs":
        config["encoder"], config["decoder_step"] = config["decoder_step"], config["encoder"]
    elif case == "external data outside":
        _with_external_weights_outside(folder)
    elif case == "not an object":
        config = [1, 2]
    else:  # a change to the description: "key=value" as JSON, "key=" to remove it
        key, _, value = case.partition("=")
        if value:
            config[key] = json.loads(value)
        else:
            del config[key]
    description.write_text(json.dumps(config))


@pytest.mark.parametrize("case, message", [
    ('encoder="/etc/passwd"', "encoder='/etc/passwd' is outside the export's folder"),
    ('decoder_step="../elsewhere/decoder_step.onnx"', "decoder_step=.* is outside the export's folder"),
    ('source="/etc/passwd"', "source='/etc/passwd' is outside the export's folder"),
    ('decoder_sequence="gone.onnx"', "decoder_sequence='gone.onnx' is missing"),
    ("truncated graph", "encoder.onnx cannot be loaded by onnxruntime"),
    ("bit-flipped graph", "encoder.onnx cannot be loaded by onnxruntime"),
    ("swapped graphs", "is not the encoder graph the description names it as"),
    ("external data outside", "encoder.onnx cannot be loaded by onnxruntime.*escapes model directory"),
    ("num_layers=", "num_layers must be an integer, got None"),
    ("num_layers=100000000", "num_layers=100000000 is outside 1..64"),
    ('heads="2"', "heads must be an integer"),
    ("max_output_length=10000000000", "max_output_length=10000000000 is outside 2..10000"),
    ("end_token=5000", "end_token=5000 is outside 0..83"),
    ("mapping=5", "mapping must be a list of strings"),
    ('data_config={"mapping": ["a"], "input_dims": [1, 64, 64], "output_dims": [10000000000]}',
     r"data_config.output_dims\[0\]=10000000000 is outside"),
    ("not an object", "has format None"),
])
def test_a_damaged_or_hostile_export_folder_is_one_line_naming_the_field(model_path, tmp_path, case, message):
    """Issue 35: onnx_model.json naming files outside its folder was followed, num_layers=10**8 ran the
    machine out of memory, damaged graphs gave onnxruntime's tracebacks. Each is now one line, checked
    before any graph is loaded."""
    import shutil

    folder = tmp_path / "export"
    shutil.copytree(model_path.parent, folder)
    _damage(folder, case)
    with pytest.raises(ValueError, match=message) as error:
        ParagraphTextRecognizer(folder / "model.pt", backend="onnx")
    assert "\n" not in str(error.value)
