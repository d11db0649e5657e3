"""Decoding: the cached greedy decoder gives the naive decoder's tokens; beam search; log-probabilities."""
import argparse

import pytest
import torch

from text_recognizer.metadata import iam_paragraphs
from text_recognizer.models.decoding import beam_search_decode, greedy_decode, naive_greedy_decode
from text_recognizer.models.transformer_decoder import TransformerTextDecoder

MAX_LENGTH = 30
DATA_CONFIG = {"input_dims": (1, 32, 32), "output_dims": (MAX_LENGTH, 1), "mapping": iam_paragraphs.MAPPING}
ARGS = argparse.Namespace(tf_dim=32, tf_fc_dim=64, tf_layers=2, tf_nhead=4, tf_dropout=0.1)


def make_decoder(dtype=torch.float32, seed=0):
    torch.manual_seed(seed)
    decoder = TransformerTextDecoder(DATA_CONFIG, ARGS).eval().to(dtype)
    with torch.no_grad():  # larger output weights: sharper, more varied choices than the U(-0.1, 0.1) init
        decoder.fc.weight.uniform_(-1, 1)
    return decoder


def end_positions(decoder, tokens):
    """Position of each row's first <E> (or None)."""
    return [row.index(decoder.end_token) if decoder.end_token in row else None for row in tokens.tolist()]


def biased_to_end_at_different_steps(decoder, memory):
    """Raise the <E> bias until the rows of the batch stop at several different steps (some not at all)."""
    best, best_bias = -1, 0.0
    for bias in torch.linspace(0, 6, 9).tolist():
        with torch.no_grad():
            decoder.fc.bias[decoder.end_token] = bias
        ends = end_positions(decoder, greedy_decode(decoder, memory, MAX_LENGTH)[0])
        if len(set(ends)) > best:
            best, best_bias = len(set(ends)), bias
    with torch.no_grad():
        decoder.fc.bias[decoder.end_token] = best_bias
    return best


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("batch", [1, 5])
def test_cached_greedy_gives_the_naive_tokens(batch, dtype):
    decoder = make_decoder(dtype)
    memory = torch.randn(batch, 12, 32, dtype=dtype) * torch.linspace(0.5, 3, batch, dtype=dtype).view(-1, 1, 1)
    distinct_ends = biased_to_end_at_different_steps(decoder, memory)
    if batch > 1:
        assert distinct_ends >= 3, "the test needs rows that stop at different steps"
    cached_tokens, cached_log_probs = greedy_decode(decoder, memory, MAX_LENGTH)
    naive_tokens, naive_log_probs = naive_greedy_decode(decoder, memory, MAX_LENGTH)
    assert torch.equal(cached_tokens, naive_tokens)
    assert torch.allclose(cached_log_probs, naive_log_probs, atol=1e-4)


@pytest.mark.slow
def test_tokens_start_with_start_and_are_padding_after_end():
    decoder = make_decoder()
    memory = torch.randn(6, 12, 32) * torch.linspace(0.5, 3, 6).view(-1, 1, 1)
    biased_to_end_at_different_steps(decoder, memory)
    tokens, _ = greedy_decode(decoder, memory, MAX_LENGTH)
    assert tokens.shape == (6, MAX_LENGTH) and (tokens[:, 0] == decoder.start_token).all()
    for row, end in zip(tokens.tolist(), end_positions(decoder, tokens)):
        if end is not None:
            assert set(row[end + 1 :]) <= {decoder.padding_token}
        assert decoder.start_token not in row[1:]


def teacher_forced_log_prob(decoder, memory, tokens):
    """Sum of log p(token i + 1 | tokens <= i) up to and including each row's stop token (<E> or <P>)."""
    with torch.no_grad():
        log_p = torch.log_softmax(decoder.sequence_logits(memory, tokens[:, :-1]).double(), dim=-1)
    picked = log_p.gather(2, tokens[:, 1:].unsqueeze(2)).squeeze(2)  # (B, L - 1)
    stops = (tokens[:, 1:] == decoder.end_token) | (tokens[:, 1:] == decoder.padding_token)
    keep = (stops.int().cumsum(dim=1) - stops.int()) == 0  # not after the first stop
    return (picked * keep).sum(dim=1)


@pytest.mark.parametrize("beam_width", [1, 3])
def test_returned_log_probs_are_those_of_the_returned_text(beam_width):
    decoder = make_decoder(torch.float64)
    memory = torch.randn(4, 12, 32, dtype=torch.float64)
    biased_to_end_at_different_steps(decoder, memory)
    if beam_width == 1:
        tokens, log_probs = greedy_decode(decoder, memory, MAX_LENGTH)
    else:
        tokens, log_probs = beam_search_decode(decoder, memory, MAX_LENGTH, beam_width)
    assert torch.allclose(log_probs, teacher_forced_log_prob(decoder, memory, tokens), atol=1e-8)


@pytest.mark.slow
def test_beam_search_of_width_one_is_greedy_decoding():
    decoder = make_decoder()
    memory = torch.randn(5, 12, 32) * torch.linspace(0.5, 3, 5).view(-1, 1, 1)
    biased_to_end_at_different_steps(decoder, memory)
    greedy_tokens, greedy_log_probs = greedy_decode(decoder, memory, MAX_LENGTH)
    beam_tokens, beam_log_probs = beam_search_decode(decoder, memory, MAX_LENGTH, beam_width=1)
    assert torch.equal(greedy_tokens, beam_tokens)
    assert torch.allclose(greedy_log_probs, beam_log_probs)


@pytest.mark.slow
def test_wider_beams_find_texts_at_least_as_probable_as_greedy_here():
    decoder = make_decoder(torch.float64, seed=1)
    memory = torch.randn(4, 12, 32, dtype=torch.float64)
    biased_to_end_at_different_steps(decoder, memory)
    _, greedy_log_probs = greedy_decode(decoder, memory, MAX_LENGTH)
    tokens, beam_log_probs = beam_search_decode(decoder, memory, MAX_LENGTH, beam_width=4)
    assert tokens.shape == (4, MAX_LENGTH) and (tokens[:, 0] == decoder.start_token).all()
    assert (beam_log_probs >= greedy_log_probs - 1e-9).all()


def test_min_length_forces_the_output_length():
    decoder = make_decoder()
    with torch.no_grad():
        decoder.fc.bias[decoder.end_token] = 100.0  # would stop at once
    memory = torch.randn(2, 12, 32)
    tokens, _ = greedy_decode(decoder, memory, 20, min_length=20)
    assert (tokens[:, 19] == decoder.end_token).all() and not (tokens[:, 1:19] == decoder.end_token).any()
    assert torch.equal(tokens, naive_greedy_decode(decoder, memory, 20, min_length=20)[0])
    assert torch.equal(tokens, beam_search_decode(decoder, memory, 20, 2, min_length=20)[0])


def test_decoding_runs_under_bf16_autocast_on_cpu():
    decoder = make_decoder()
    memory = torch.randn(3, 12, 32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        tokens, log_probs = greedy_decode(decoder, memory, MAX_LENGTH)
        beam_tokens, _ = beam_search_decode(decoder, memory, MAX_LENGTH, 2)
    assert tokens.shape == beam_tokens.shape == (3, MAX_LENGTH) and torch.isfinite(log_probs).all()
    # bf16 rounding may change a close choice, but most tokens match the float32 decoding
    assert (tokens == greedy_decode(decoder, memory, MAX_LENGTH)[0]).float().mean() > 0.5


def test_generate_dispatches_and_returns_log_probs_on_request():
    decoder = make_decoder()
    memory = torch.randn(2, 12, 32)
    tokens = decoder.generate(memory)
    assert tokens.shape == (2, MAX_LENGTH)
    tokens, log_probs = decoder.generate(memory, max_length=10, beam_width=2, return_log_probs=True)
    assert tokens.shape == (2, 10) and log_probs.shape == (2,) and (log_probs <= 0).all()


def line_lengths(decoder, row):
    """Characters per line of one decoded row (tokens after <S>, up to its first <E> or <P>)."""
    lengths, current = [], 0
    for token in row[1:]:
        if token in (decoder.end_token, decoder.padding_token):
            break
        if token == decoder.newline_token:
            lengths.append(current)
            current = 0
        else:
            current += 1
    return lengths + [current]


def looping_decoder():
    """A decoder that never writes <E> nor a line break: left alone it runs to max_length."""
    decoder = make_decoder()
    with torch.no_grad():
        decoder.fc.bias[[decoder.end_token, decoder.newline_token, decoder.padding_token]] = -50.0
    return decoder


def test_the_line_guard_ends_a_text_whose_line_is_full():
    decoder = looping_decoder()
    memory = torch.randn(3, 12, 32)
    unguarded, _ = greedy_decode(decoder, memory, MAX_LENGTH)
    assert all(line_lengths(decoder, row) == [MAX_LENGTH - 1] for row in unguarded.tolist())
    limits = torch.tensor([4, 11, 100])
    tokens, log_probs = greedy_decode(decoder, memory, MAX_LENGTH, line_limits=limits)
    assert [line_lengths(decoder, row) for row in tokens.tolist()] == [[4], [11], [MAX_LENGTH - 1]]
    assert end_positions(decoder, tokens) == [5, 12, None]  # <E> right after the last allowed character
    assert torch.equal(tokens[:, :5], unguarded[:, :5])  # the guard changes nothing before the limit
    # The forced <E> costs nothing: the log-probability is that of the characters kept.
    without_end = tokens.masked_fill(tokens == decoder.end_token, decoder.padding_token)
    with torch.no_grad():
        log_p = torch.log_softmax(decoder.sequence_logits(memory, without_end[:, :-1]), dim=-1)
    picked = log_p.gather(2, without_end[:, 1:].unsqueeze(2)).squeeze(2)
    expected = (picked * (without_end[:, 1:] != decoder.padding_token)).sum(dim=1)
    assert torch.allclose(log_probs, expected, atol=1e-4)


def test_a_line_break_resets_the_count():
    decoder = make_decoder()
    with torch.no_grad():  # a line break every few characters, never <E>
        decoder.fc.bias[[decoder.end_token, decoder.padding_token]] = -50.0
        decoder.fc.bias[decoder.newline_token] = 3.0
    memory = torch.randn(4, 12, 32)
    unguarded, _ = greedy_decode(decoder, memory, MAX_LENGTH)
    longest = max(max(line_lengths(decoder, row)) for row in unguarded.tolist())
    assert longest >= 2, "the test needs lines of several characters"
    tokens, _ = greedy_decode(decoder, memory, MAX_LENGTH, line_limits=torch.full((4,), longest + 1))
    assert torch.equal(tokens, unguarded)  # no line reached the limit: nothing changes
    tokens, _ = greedy_decode(decoder, memory, MAX_LENGTH, line_limits=torch.full((4,), longest))
    assert max(max(line_lengths(decoder, row)) for row in tokens.tolist()) == longest
    assert end_positions(decoder, tokens) != end_positions(decoder, unguarded)  # a full line ended its text


def test_every_decoder_keeps_the_same_line_guard():
    decoder = looping_decoder()
    memory = torch.randn(3, 12, 32)
    limits = torch.tensor([3, 9, 17])
    greedy, greedy_log_probs = greedy_decode(decoder, memory, MAX_LENGTH, line_limits=limits)
    naive, naive_log_probs = naive_greedy_decode(decoder, memory, MAX_LENGTH, line_limits=limits)
    beam, beam_log_probs = beam_search_decode(decoder, memory, MAX_LENGTH, beam_width=1, line_limits=limits)
    assert torch.equal(greedy, naive) and torch.equal(greedy, beam)
    assert torch.allclose(greedy_log_probs, naive_log_probs, atol=1e-4)
    assert torch.allclose(greedy_log_probs, beam_log_probs, atol=1e-4)
    wide, _ = beam_search_decode(decoder, memory, MAX_LENGTH, beam_width=3, line_limits=limits)
    assert [max(line_lengths(decoder, row)) for row in wide.tolist()] == [3, 9, 17]


def test_masked_memory_padding_reads_as_the_memory_alone():
    """A text's memory padded with junk cells and masked decodes as the memory without them, by every decoder."""
    decoder, length = make_decoder(torch.float64), 12
    memory = torch.randn(2, 7, 32, dtype=torch.float64)
    padded = torch.cat([memory, 5 * torch.randn(2, 5, 32, dtype=torch.float64)], dim=1)  # (2, 12, 32)
    mask = torch.zeros(2, 12, dtype=torch.bool)
    mask[:, 7:] = True
    assert not torch.equal(greedy_decode(decoder, padded, length)[0], greedy_decode(decoder, memory, length)[0])
    for decode in (greedy_decode, naive_greedy_decode, lambda *a, **k: beam_search_decode(*a, beam_width=3, **k)):
        alone_tokens, alone_log_probs = decode(decoder, memory, length)
        tokens, log_probs = decode(decoder, padded, length, memory_mask=mask)
        assert torch.equal(tokens, alone_tokens)
        assert torch.allclose(log_probs, alone_log_probs, atol=1e-9)
    scores = decoder.sequence_log_likelihood(padded, alone_tokens, mask)
    assert torch.allclose(scores, decoder.sequence_log_likelihood(memory, alone_tokens), atol=1e-9)
