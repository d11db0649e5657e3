"""Joint CTC-attention reading of lines: the CTC forward score, the choice, the decoder's teacher-forced
score, and the recognizer's line_decoding="joint" on both backends."""
import numpy as np
import pytest
import torch
from test_read_by_lines import page_of_bars, save_ctc_line_model

from text_recognizer.joint_decoding import ctc_log_likelihoods, joint_choice
from text_recognizer.paragraph_text_recognizer import ParagraphTextRecognizer
from text_recognizer.stems.paragraph_core import LINE_DECODING_JOINT
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
    from training.export_model import export

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

    from api_server.__main__ import ENV_PREFIX, app_from_environment

    path = save_ctc_line_model(tmp_path / "ctc.pt")
    monkeypatch.setenv(ENV_PREFIX + "MODEL_PATH", str(path))
    monkeypatch.setenv(ENV_PREFIX + "BACKEND", "torch")
    for setting, expected in (("", LINE_DECODING_JOINT), ("ctc", "ctc")):
        monkeypatch.setenv(ENV_PREFIX + "LINE_DECODING", setting)
        with TestClient(app_from_environment()) as client:
            model = client.get("/v1/model").json()
        assert (model["read_by"], model["line_decoding"]) == ("lines", expected)
