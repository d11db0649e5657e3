"""Text <-> tokens for one mapping: the special-token indices, encoding, decoding, label trimming.

Torch-free at import (the ONNX backend reads with it); only `convert_strings_to_labels` builds a
torch tensor, for the data modules, and imports torch when called.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from text_recognizer.metadata.iam_paragraphs import NEW_LINE_TOKEN
from text_recognizer.metadata.shared import BLANK_TOKEN, END_TOKEN, PADDING_TOKEN, START_TOKEN

if TYPE_CHECKING:
    import torch


class Vocabulary:
    """A mapping (token per index) with its special tokens' indices looked up once.

    >>> vocabulary = Vocabulary(["<B>", "<S>", "<E>", "<P>", "a", "b"])
    >>> vocabulary.start, vocabulary.end, vocabulary.padding, vocabulary.newline
    (1, 2, 3, None)
    >>> vocabulary.decode([[1, 4, 5, 2, 4], [4, 3, 3]])
    ['ab', 'a']
    """

    def __init__(self, mapping: Sequence[str], needed: Sequence[str] = (), needed_by: str = "") -> None:
        self.mapping = list(mapping)
        self.index = {token: i for i, token in enumerate(self.mapping)}
        missing = [token for token in needed if token not in self.index]
        if missing:
            raise ValueError(f"{needed_by} needs {missing} in the data's mapping (use an EMNIST/IAM data class)")
        self.blank = self.index.get(BLANK_TOKEN)
        self.start = self.index.get(START_TOKEN)
        self.end = self.index.get(END_TOKEN)
        self.padding = self.index.get(PADDING_TOKEN)
        self.newline = self.index.get(NEW_LINE_TOKEN)

    def __len__(self) -> int:
        return len(self.mapping)

    @property
    def markers(self) -> list[int]:
        """<S>, <E> and <P>: the tokens that are not text (what a CER ignores)."""
        return [i for i in (self.start, self.end, self.padding) if i is not None]

    def decode(self, labels: Any) -> list[str]:
        """Token rows (a tensor, an array or nested sequences) -> text: stop at <E> or <P>, drop <S> and <B>."""
        return ["".join(self.mapping[token] for token in row) for row in self.texts(labels)]

    def texts(self, labels: Any) -> list[list[int]]:
        """Token rows -> each row's text as tokens, the characters `decode` writes.

        >>> Vocabulary(["<B>", "<S>", "<E>", "<P>", "a", "b"]).texts([[1, 4, 5, 2, 4], [4, 3, 3]])
        [[4, 5], [4]]
        """
        rows = labels.tolist() if hasattr(labels, "tolist") else labels
        stop = {self.end, self.padding} - {None}
        skip = {self.start, self.blank} - {None}
        texts = []
        for row in rows:
            text = []
            for token in row:
                if token in stop:
                    break
                if token not in skip:
                    text.append(token)
            texts.append(text)
        return texts

    def ctc_best_path(self, best: Any, best_log_probs: Any, length: int) -> tuple[Any, Any]:
        """A CTC head's best path -> tokens as decoding lays them out, and each text's log-probability.

        `best` and `best_log_probs` are (B, T) arrays: each frame's likeliest token and its log-probability.
        Repeats collapse, blanks go, the line's outer spaces too; the text is cut to fit `length` tokens
        (<S> and <E> with it). The log-probability sums the frames that wrote a kept character.

        >>> vocabulary = Vocabulary(["<B>", "<S>", "<E>", "<P>", "a", "b", " "])
        >>> tokens, log_probs = vocabulary.ctc_best_path([[6, 4, 4, 0, 4, 5, 5, 0]], [[-1.0] * 8], 6)
        >>> vocabulary.decode(tokens), log_probs.tolist()
        (['aab'], [-3.0])
        """
        import numpy as np

        assert self.blank is not None and self.start is not None and self.end is not None and self.padding is not None
        best, best_log_probs = np.asarray(best), np.asarray(best_log_probs, dtype=np.float64)
        space = self.index.get(" ")
        tokens = np.full((best.shape[0], length), self.padding, dtype=np.int64)
        totals = np.zeros(best.shape[0])
        for row, (path, path_log_probs) in enumerate(zip(best, best_log_probs)):
            starts = np.flatnonzero((path != self.blank) & np.concatenate(([True], path[1:] != path[:-1])))
            while starts.size and path[starts[0]] == space:  # a line's outer spaces are not its text
                starts = starts[1:]
            while starts.size and path[starts[-1]] == space:
                starts = starts[:-1]
            starts = starts[: length - 2]
            tokens[row, 0], tokens[row, 1 : starts.size + 1], tokens[row, starts.size + 1] = self.start, path[starts], self.end
            totals[row] = path_log_probs[starts].sum()
        return tokens, totals

    def encode(self, strings: Sequence[str], length: int) -> list[list[int]]:
        """Each string as <S> chars <E>, padded with <P> to `length` tokens; clear errors for what does not fit."""
        if self.start is None or self.end is None or self.padding is None:
            raise ValueError("encoding needs <S>, <E> and <P> in the mapping (use an EMNIST/IAM data class)")
        rows = []
        for string in strings:
            if len(string) + 2 > length:
                raise ValueError(
                    f"label of {len(string) + 2} tokens (with <S>, <E>) exceeds the maximum {length}: {string[:60]!r}..."
                )
            unknown = sorted(set(string) - self.index.keys())
            if unknown:
                raise ValueError(f"characters {unknown} are not in the mapping, in {string[:60]!r}")
            tokens = [self.start, *(self.index[char] for char in string), self.end]
            rows.append(tokens + [self.padding] * (length - len(tokens)))
        return rows


def convert_labels_to_strings(labels: Any, mapping: Sequence[str]) -> list[str]:
    """Decode token rows to text (see Vocabulary.decode).

    >>> convert_labels_to_strings([[1, 4, 5, 2, 4], [4, 3, 3]], ["<B>", "<S>", "<E>", "<P>", "a", "b"])
    ['ab', 'a']
    """
    return Vocabulary(mapping).decode(labels)


def convert_strings_to_labels(strings: Sequence[str], mapping: Sequence[str], length: int) -> torch.Tensor:
    """Encode each string as <S> chars <E>, padded with <P> to `length` tokens: a (len(strings), length) tensor.

    >>> convert_strings_to_labels(["ab"], ["<B>", "<S>", "<E>", "<P>", "a", "b"], 6).tolist()
    [[1, 4, 5, 2, 3, 3]]
    """
    import torch  # here, not at the top: inference with the ONNX backend imports this module without torch

    return torch.tensor(Vocabulary(mapping).encode(strings, length), dtype=torch.long).reshape(len(strings), length)


def trim_padding(labels: Any, padding_index: int) -> Any:
    """(B, L) padded labels (tensor or array) -> (B, L') without the trailing columns that are <P> in every row.

    Labels are padded to the longest possible text (682 tokens for paragraphs), a batch's texts are
    usually much shorter, and under a causal mask the trailing <P> positions change no loss term.

    >>> import numpy as np
    >>> trim_padding(np.array([[1, 4, 2, 3, 3], [1, 2, 3, 3, 3]]), 3).tolist()
    [[1, 4, 2], [1, 2, 3]]
    """
    used = [bool(u) for u in (labels != padding_index).any(0).tolist()]
    return labels[:, : max(i for i, u in enumerate(used) if u) + 1] if any(used) else labels
