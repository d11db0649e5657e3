"""Characters of users' transcriptions that the model cannot write: found up front, all of them, and
either refused (the default), or their samples dropped, or replaced by a look-alike the model knows.

>>> records = [{"id": "a", "label": "café"}, {"id": "b", "label": "ok"}]
>>> kept, report = apply_unknown_chars(records, list("abcdefghijklmnopqrstuvwxyz"), "replace")
>>> [r["label"] for r in kept], report
(['cafe', 'ok'], "replaced 'é' by 'e' (1)")
"""
from __future__ import annotations

import shlex
import unicodedata
from collections import Counter
from collections.abc import Sequence
from typing import Any

from text_recognizer.util import DataUnavailableError

# Typographic characters of transcription tools that have a plain look-alike in the 79 characters.
LOOK_ALIKES = {
    "\u2018": "'", "\u2019": "'", "\u201a": ",", "\u201b": "'", "\u2032": "'", "`": "'", "\u00b4": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"', "\u00bb": '"', "\u2033": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2212": "-", "\u00ad": "-",
    "\u2026": "...", "\u00a0": " ", "\u2009": " ", "\u202f": " ", "\t": " ", "\u00d7": "x", "[": "(", "]": ")",
    "{": "(", "}": ")", "\u00df": "ss", "\u00e6": "ae", "\u00c6": "AE", "\u0153": "oe", "\u0152": "OE",
    "\u00f8": "o", "\u00d8": "O", "\u0142": "l", "\u0141": "L",
}
MAX_IDS_SHOWN = 3
Record = dict[str, Any]


def unknown_characters(records: Sequence[Record], vocabulary: set[str]) -> dict[str, tuple[int, list[str]]]:
    """Each character outside `vocabulary` -> (occurrences, ids of the first samples holding it)."""
    counts: Counter[str] = Counter()
    first_ids: dict[str, list[str]] = {}
    for record in records:
        label: str = record["label"]
        for char, count in Counter(label).items():
            if char not in vocabulary:
                counts[char] += count
                ids = first_ids.setdefault(char, [])
                if len(ids) < MAX_IDS_SHOWN:
                    ids.append(record["id"])
    return {char: (count, first_ids[char]) for char, count in counts.most_common()}


def describe(unknown: dict[str, tuple[int, list[str]]]) -> str:
    """One line per character: its repr, code point, count and the first samples holding it."""
    return "\n".join(f"  {char!r} (U+{ord(char):04X}) x{count}, e.g. in {', '.join(ids)}"
                     for char, (count, ids) in unknown.items())


def look_alike(char: str, vocabulary: set[str]) -> str | None:
    """The in-vocabulary spelling of `char`: the table above, else its NFKD form without accents."""
    candidate = LOOK_ALIKES.get(char)
    if candidate is None:
        decomposed = unicodedata.normalize("NFKD", char)
        candidate = "".join(c for c in decomposed if not unicodedata.combining(c)) or None
    if candidate is not None and candidate != char and all(c in vocabulary for c in candidate):
        return candidate
    return None


def apply_unknown_chars(records: Sequence[Record], mapping: Sequence[str], policy: str,
                        where: str = "the data", can_extend: bool = False) -> tuple[list[Record], str]:
    """The records to train on and a one-line summary of what was done (empty when nothing was unknown).

    policy "error": raise DataUnavailableError listing every unknown character; "drop": leave out the
    samples holding any; "replace": replace each by its look-alike (look_alike), and drop the samples
    that still hold characters without one. `can_extend`: the data module takes --extra_chars, which
    the error then offers, with the characters to pass.
    """
    vocabulary = set(mapping)
    unknown = unknown_characters(records, vocabulary)
    if not unknown:
        return list(records), ""
    if policy == "error":
        raise DataUnavailableError(
            f"{where} holds {len(unknown)} characters that the model's vocabulary ({len(mapping)} tokens) lacks:\n"
            f"{describe(unknown)}\nFix the transcriptions, or pass --unknown_chars=replace (look-alikes such as "
            "’ -> ', é -> e; samples with characters that have none are dropped) or --unknown_chars=drop (drop "
            "every sample that holds one)."
            + (f" To train a new model that writes them, pass --extra_chars={shlex.quote(''.join(unknown))}." if can_extend else "")
        )
    if policy not in ("drop", "replace"):
        raise ValueError(f"--unknown_chars={policy!r}: choose error, drop or replace")
    replacements = {char: look_alike(char, vocabulary) for char in unknown} if policy == "replace" else {}
    kept, dropped = [], 0
    for record in records:
        label = "".join(replacements.get(c) or c if c in replacements else c for c in record["label"])
        if any(c not in vocabulary for c in label):
            dropped += 1
            continue
        kept.append({**record, "label": label})
    parts = [f"replaced {char!r} by {new!r} ({unknown[char][0]})" for char, new in replacements.items() if new]
    if dropped:
        parts.append(f"dropped {dropped} samples holding {', '.join(repr(c) for c in unknown if not replacements.get(c))}")
    return kept, "; ".join(parts)
