"""Tokens -> text, without torch: shared by the data modules, the Lightning modules and both inference backends."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from text_recognizer.metadata.shared import BLANK_TOKEN, END_TOKEN, PADDING_TOKEN, START_TOKEN


def convert_labels_to_strings(labels: Any, mapping: Sequence[str]) -> list[str]:
    """Decode token rows (a tensor, an array or nested sequences) to text: stop at <E> or <P>, drop <S> and <B>.

    >>> convert_labels_to_strings([[1, 4, 5, 2, 4], [4, 3, 3]], ["<B>", "<S>", "<E>", "<P>", "a", "b"])
    ['ab', 'a']
    """
    rows = labels.tolist() if hasattr(labels, "tolist") else labels
    stop = {mapping.index(END_TOKEN), mapping.index(PADDING_TOKEN)}
    skip = {mapping.index(START_TOKEN), mapping.index(BLANK_TOKEN)}
    strings = []
    for row in rows:
        chars = []
        for token in row:
            if token in stop:
                break
            if token not in skip:
                chars.append(mapping[token])
        strings.append("".join(chars))
    return strings
