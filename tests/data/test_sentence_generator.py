"""English text for synthetic data: clean corpus sentences and seeded runs of words."""
from text_recognizer.data.synthetic.sentence_generator import (
    SentenceGenerator,
    clean_entry,
    english_sentences,
    split_sentences,
)
from text_recognizer.metadata.shared import CHARACTERS


def test_corpus_sentences_use_only_iam_characters():
    sentences = english_sentences()
    assert len(sentences) > 5000
    assert set("".join(sentences)) <= set(CHARACTERS)
    assert all(sentence == " ".join(sentence.split()) for sentence in sentences)  # whitespace joined
    assert english_sentences() is sentences  # read once per process


def test_cleaning_rejects_code_tables_and_foreign_characters():
    assert clean_entry("if (x) { y = 1; }") is None
    assert clean_entry("Name\t\tAge\nBob\t\t42") is None
    assert clean_entry("Café au lait.") is None
    assert clean_entry("A line\n  that wraps.\n\t-- Author") == "A line that wraps."
    assert clean_entry("\t\t\tFROM THE DESK OF\n\t\t\tDorothy Gale\nAuntie Em: hate you.") is None  # a layout
    assert split_sentences("One two three. Four five six!") == ["One two three.", "Four five six!"]


def test_generate_respects_lengths_and_seed():
    generator = SentenceGenerator(max_length=40, seed=0)
    texts = [generator.generate() for _ in range(200)]
    assert all(0 < len(text) <= 40 and text == text.strip() for text in texts)
    assert len(set(texts)) > 150
    again = SentenceGenerator(max_length=40, seed=0)
    assert [again.generate() for _ in range(200)] == texts
    long = SentenceGenerator(seed=1).generate(max_length=300, min_length=250)
    assert 250 <= len(long) <= 300
