"""Joint CTC-attention reading of lines: the CTC forward score, the choice, the decoder's teacher-forced
score, and the recognizer's line_decoding="joint" on both backends."""
import numpy as np
import pytest
import torch
from PIL import Image
from test_read_by_lines import page_of_bars, save_ctc_line_model

from text_recognizer.joint_decoding import ctc_log_likelihoods, joint_choice
from text_recognizer.paragraph_text_recognizer import ParagraphTextRecognizer, main
from text_recognizer.stems.paragraph_core import (
    LINE_DECODING_ATTENTION,
    LINE_DECODING_CTC,
    LINE_DECODING_JOINT,
)
from text_recognizer.vocabulary import Vocabulary


def torch_ctc(log_probs: np.ndarray, labels: list[list[int]], blank: int) -> list[float]:
    frames = log_probs.shape[1]
    figures = []
    for row, label in enumerate(labels):
        loss = torch.nn.functional.ctc_loss(
            torch.from_numpy(log_probs[row : row + 1]).transpose(0, 1), torch.tensor([label or [0]]),
            torch.tensor([frames]), torch.tensor([len(label)]), blank=blank, reduction="sum",
        )
        figures.append(-loss.item())
    return figures


def test_the_ctc_score_sums_every_alignment_as_torch_ctc_loss_does():
    rng = np.random.default_rng(0)
    log_probs = torch.log_softmax(torch.from_numpy(rng.normal(size=(5, 12, 6)) * 2), dim=-1).numpy()
    # repeats need a blank between them; an empty text; one character; a text too long for 12 frames
    labels = [[1, 2, 2, 3], [], [5], [1, 1, 1, 1, 1, 1, 1], [3, 4, 5, 1, 2]]
    ours = ctc_log_likelihoods(log_probs, labels, blank=0)
    expected = torch_ctc(log_probs, labels, blank=0)
    assert ours[:3].tolist() == pytest.approx(expected[:3], abs=1e-9)
    assert ours[3] == -np.inf and expected[3] == -np.inf  # 7 repeats need 13 frames
    assert ours[4] == pytest.approx(expected[4], abs=1e-9)


def test_the_joint_choice_keeps_per_row_the_candidate_both_scores_favour():
    ctc_text = np.array([[1, 4, 2], [1, 5, 2]])
    attention_text = np.array([[1, 6, 2], [1, 7, 2]])
    # row 0: attention's text is slightly likelier to the decoder but far less to CTC: CTC's text stays;
    # row 1: CTC finds both alike, the decoder prefers its own: attention's text stays
    tokens, scores = joint_choice([ctc_text, attention_text], ctc_scores=[np.array([-1.0, -2.0]), np.array([-9.0, -2.1])],
                                  attention_scores=[np.array([-2.0, -6.0]), np.array([-1.5, -1.0])], ctc_weight=0.3)
    assert tokens.tolist() == [[1, 4, 2], [1, 7, 2]]
    assert scores.tolist() == pytest.approx([0.3 * -1.0 + 0.7 * -2.0, 0.3 * -2.1 + 0.7 * -1.0])


def test_the_decoders_score_of_its_own_greedy_text_is_what_greedy_decoding_summed():
    from test_line_guard import looping_model

    from text_recognizer.models import decoding

    model = looping_model()
    with torch.no_grad():  # let it stop: <E> likely after a few characters
        model.decoder.fc.bias[model.decoder.end_token] = 0.0
    memory = model.encode(torch.rand(3, 1, 64, 128))
    tokens, log_probs = decoding.greedy_decode(model.decoder, memory, 60)
    assert model.decoder.sequence_log_likelihood(memory, tokens).tolist() == pytest.approx(log_probs.tolist(), abs=1e-4)


def test_vocabulary_texts_are_the_tokens_decode_writes():
    vocabulary = Vocabulary(["<B>", "<S>", "<E>", "<P>", "a", "b"])
    rows = [[1, 4, 0, 5, 2, 4], [1, 2, 3], [4, 4, 3, 5]]
    assert vocabulary.texts(rows) == [[4, 5], [], [4, 4]]
    assert vocabulary.decode(rows) == ["ab", "", "aa"]


def test_joint_reading_keeps_the_ctc_text_over_a_looping_decoder_on_both_backends(tmp_path):
    """The CTC head writes "a" per line with confidence; the attention decoder loops until the line
    guard ends it, a text CTC finds impossible: every line reads "a", by torch and by ONNX alike."""
    from text_recognizer.training.export_model import export

    path = save_ctc_line_model(tmp_path / "ctc.pt")
    pages = [page_of_bars(), page_of_bars([150])]
    joint = ParagraphTextRecognizer(path, line_decoding=LINE_DECODING_JOINT)
    assert joint.ctc_decoding == LINE_DECODING_JOINT
    expected = joint.predict_batch(pages)
    assert [p.text for p in expected] == ["a\na\na", "a"]
    export(path)
    got = ParagraphTextRecognizer(path, backend="onnx", line_decoding=LINE_DECODING_JOINT).predict_batch(pages)
    assert [p.text for p in got] == [p.text for p in expected]
    assert [p.confidence for p in got] == pytest.approx([p.confidence for p in expected], abs=1e-3)
    with pytest.raises(ValueError, match="reads greedily"):
        ParagraphTextRecognizer(path, line_decoding=LINE_DECODING_JOINT, beam_width=3)


def test_joint_reading_needs_a_ctc_head(tmp_path):
    from test_read_by_lines import save_looping_model

    from text_recognizer.stems.paragraph_core import READ_BY_LINES

    path = save_looping_model(tmp_path / "model.pt", read_by=READ_BY_LINES)
    with pytest.raises(ValueError, match="has no line CTC head.*'joint' needs"):
        ParagraphTextRecognizer(path, line_decoding=LINE_DECODING_JOINT)


def test_the_server_reads_a_line_model_jointly_unless_told_and_says_how(tmp_path, monkeypatch):
    from fastapi.testclient import TestClient

    from text_recognizer.api_server.__main__ import ENV_PREFIX, app_from_environment

    path = save_ctc_line_model(tmp_path / "ctc.pt")
    monkeypatch.setenv(ENV_PREFIX + "MODEL_PATH", str(path))
    monkeypatch.setenv(ENV_PREFIX + "BACKEND", "torch")
    for setting, expected in (("", LINE_DECODING_JOINT), ("ctc", "ctc")):
        monkeypatch.setenv(ENV_PREFIX + "LINE_DECODING", setting)
        with TestClient(app_from_environment()) as client:
            model = client.get("/v1/model").json()
        assert (model["read_by"], model["line_decoding"]) == ("lines", expected)


def test_the_ctc_score_of_empty_texts_alone_is_the_all_blank_path():
    """A batch of blank lines: every candidate empty (issue 35: an IndexError that crashed joint reading)."""
    rng = np.random.default_rng(1)
    log_probs = torch.log_softmax(torch.from_numpy(rng.normal(size=(2, 7, 5))), dim=-1).numpy()
    assert ctc_log_likelihoods(log_probs, [[], []], blank=0).tolist() == pytest.approx(torch_ctc(log_probs, [[], []], blank=0))
    assert ctc_log_likelihoods(log_probs[:, :1], [[], []], blank=0).tolist() == pytest.approx(log_probs[:, 0, 0].tolist())


def blank_pages():
    """White paper, black paper, numpy zeros and grey noisy paper: nothing on any of them is ink."""
    noise = (np.random.default_rng(0).random((300, 400)) * 30 + 200).astype(np.uint8)
    return [Image.new("L", (300, 200), 255), Image.new("L", (300, 200), 0), np.zeros((50, 60), np.uint8), noise]


@pytest.mark.slow
def test_blank_pages_read_as_empty_text_by_every_decoding_on_both_backends(tmp_path):
    """Issue 35: a blank page crashed the default (joint) reading on both backends. The model's CTC head
    writes only blanks and its decoder never ends a text: on blank pages every reading is empty, by the
    line guard (no ink, no characters) and the CTC head alike."""
    from text_recognizer.training.export_model import export

    path = save_ctc_line_model(tmp_path / "blank.pt", letter="<B>")
    export(path)
    for backend in ("torch", "onnx"):
        for decoding in (LINE_DECODING_JOINT, LINE_DECODING_CTC, LINE_DECODING_ATTENTION):
            recognizer = ParagraphTextRecognizer(path, backend=backend, line_decoding=decoding)
            predictions = recognizer.predict_batch(blank_pages())
            assert [p.text for p in predictions] == [""] * 4, (backend, decoding)
            assert all(0 < p.confidence <= 1 for p in predictions)
            # with a page that has ink in the same batch, the blank ones stay empty
            mixed = recognizer.predict_batch([blank_pages()[0], page_of_bars()])
            assert mixed[0].text == "" and (decoding == LINE_DECODING_CTC or mixed[1].text), (backend, decoding)


def test_the_script_prints_a_good_page_after_eight_blank_ones_and_survives_a_failing_batch(tmp_path, capsys, monkeypatch):
    """Issue 35: 8 blank pages and a good one printed nothing (a decoding error of a batch ended the
    script). Now every page prints; a page whose decoding fails is named on stderr and the others print."""
    import json

    path = save_ctc_line_model(tmp_path / "blank.pt", letter="<B>")
    files = []
    for i in range(8):
        files.append(str(tmp_path / f"blank{i}.png"))
        Image.new("L", (300, 200), 255).save(files[-1])
    files.append(str(tmp_path / "good.png"))
    page_of_bars().save(files[-1])
    assert main(["--model_path", str(path), "--json", *files]) == 0
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [p["file"] for p in printed] == files and [p["text"] for p in printed[:8]] == [""] * 8

    poisoned = files[3]
    original = ParagraphTextRecognizer.predict_prepared

    def failing(self, pages):  # any batch holding the poisoned page fails in decoding
        if any(line.shape == shape_of_poisoned for page in pages for line in page.inputs):
            raise RuntimeError("decoding went wrong")
        return original(self, pages)

    page_of_bars([123]).save(poisoned)  # one line of a width of its own, so that only it fails
    shape_of_poisoned = ParagraphTextRecognizer(path).preprocess(poisoned)[0].shape
    monkeypatch.setattr(ParagraphTextRecognizer, "predict_prepared", failing)
    assert main(["--model_path", str(path), "--json", *files]) == 1
    captured = capsys.readouterr()
    assert [json.loads(line)["file"] for line in captured.out.splitlines()] == files[:3] + files[4:]
    errors = captured.err.splitlines()
    assert errors[0] == f"error: {poisoned}: could not be read (RuntimeError: decoding went wrong)"
    assert errors[1] == "error: 1 of 9 files could not be read" and len(errors) == 2
