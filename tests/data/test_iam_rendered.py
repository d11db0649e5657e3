"""The offline handwriting source: IAM's format, ink-true boxes, paragraph-canvas fit, determinism."""
import dataclasses
import random
import re

import numpy as np
import pytest
from PIL import Image

from text_recognizer.data.sources import font_table, handwriting_fonts
from text_recognizer.data.sources.iam import IAM, split_ids
from text_recognizer.data.synthetic import form_renderer, hand_realism, handwriting, iam_rendered
from text_recognizer.data.synthetic.iam_rendered import RenderedTree
from text_recognizer.metadata import iam as metadata
from text_recognizer.metadata import iam_paragraphs

OPTIONS = iam_rendered.RenderOptions(forms=4, writers=2, seed=11, fonts="pypi")  # pypi: nothing fetched


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> IAM:
    dataset = IAM(RenderedTree(tmp_path_factory.mktemp("rendered"), OPTIONS))
    dataset.prepare_data()
    return dataset.load()


def test_tree_has_iam_layout_and_parses(dataset):
    root = dataset.root
    assert root.name == OPTIONS.dirname() and dataset.cache_name == f"iam_rendered_{OPTIONS.dirname()}"
    assert len(list((root / "forms").glob("*.jpg"))) == len(list((root / "xml").glob("*.xml"))) == 4
    for form_id, filename in dataset.form_filenames_by_id.items():
        with Image.open(filename) as image:
            assert image.size == (form_renderer.PAGE_WIDTH, form_renderer.PAGE_HEIGHT) and image.mode == "L"
        lines = dataset.line_strings_by_id[form_id]
        assert form_renderer.MIN_LINES <= len(lines) <= form_renderer.MAX_LINES
        assert all(len(line) <= form_renderer.MAX_LINE_CHARACTERS for line in lines)
        assert len(lines) == len(dataset.line_regions_by_id[form_id])
    xml = (root / "xml" / "r01-000.xml").read_text()
    for tag in ("<machine-printed-part>", "<machine-print-line text=", "<handwritten-part>", "<word id=", "<cmp x="):
        assert tag in xml


def test_preparing_again_reuses_the_tree(dataset):
    before = (dataset.root / "xml" / "r01-000.xml").stat().st_mtime_ns
    again = IAM(RenderedTree(dataset.tree.dl_dirname, OPTIONS))
    again.prepare_data()
    assert (again.root / "xml" / "r01-000.xml").stat().st_mtime_ns == before
    assert [p.name for p in dataset.tree.dl_dirname.iterdir()] == [OPTIONS.dirname()]  # no staging folders left


def test_test_split_holds_unseen_writers_and_fonts(dataset):
    writers = dataset.writer_id_by_form_id
    assert dataset.test_ids and dataset.train_ids
    assert {writers[i] for i in dataset.test_ids}.isdisjoint(writers[i] for i in dataset.train_ids + dataset.val_ids)
    assert sorted(dataset.test_subsets["unseen_family"] + dataset.test_subsets["train_family"]) == sorted(dataset.test_ids)
    assert not dataset.val_has_own_writers


def family_of(writer: handwriting.Writer) -> str:
    return handwriting_fonts.face_info(writer.font).family


def test_unseen_family_writers_use_whole_families_that_no_other_writer_touches():
    """Issue 33: held-out families, every weight and style of them (the Hershey scripts are one family)."""
    writers, roles = iam_rendered.make_writers(iam_rendered.RenderOptions(forms=96, writers=96, fonts="pypi"))
    by_role = {role: {family_of(w) for w in writers if roles[w.writer_id] == role} for role in iam_rendered.WRITER_ROLES}
    assert [sum(r == role for r in roles.values()) for role in iam_rendered.WRITER_ROLES] == [68, 10, 6, 12]
    assert by_role["test_unseen_family"] == {"Satisfy", "Shadows Into Light", "Hershey Script"}  # the pypi set's held-out families
    assert by_role["test_unseen_family"] <= set(font_table.TEST_FAMILIES)
    assert by_role["test_unseen_family"].isdisjoint(by_role["train"] | by_role["val"] | by_role["test_train_family"])
    assert by_role["test_train_family"] <= by_role["train"]  # new writers of training families
    # Writers of one role take its families in turn: no family gets more writers for having more styles.
    counts = [sum(family_of(w) == family for w in writers if roles[w.writer_id] == "train") for family in by_role["train"]]
    assert max(counts) - min(counts) <= 1


def test_validation_writers_are_new_writers(tmp_path):
    """A tree with enough writers names its validation writers' forms; none of them writes a training form."""
    options = iam_rendered.RenderOptions(forms=12, writers=10, seed=3, fonts="pypi")
    dataset = IAM(RenderedTree(tmp_path, options)).load()
    writers = dataset.writer_id_by_form_id
    assert dataset.val_ids and {writers[i] for i in dataset.val_ids}.isdisjoint(writers[i] for i in dataset.train_ids)
    assert dataset.val_has_own_writers  # (the 2-writer tree has none: val is a slice of its training writer's forms)
    assert set(dataset.val_ids) | set(dataset.train_ids) | set(dataset.test_ids) == set(dataset.all_ids)
    assert set(dataset.test_subsets) == {"train_family", "unseen_family"}
    assert "Test subset unseen_family" in repr(dataset)


def test_split_ids_with_a_validation_list():
    writer_by_form = {"a": "1", "b": "1", "c": "2", "d": "3", "e": "3"}
    train, val, test, excluded = split_ids(writer_by_form, ["e"], val_list=["c"])
    assert (train, val, test) == (["a", "b"], ["c"], ["e"]) and excluded == ["d"]


def test_capitals_writers_write_and_label_capitals():
    writer = dataclasses.replace(handwriting.Writer.sample("000", "Kalam-Regular", random.Random(0)), capitals=True)
    _, xml = form_renderer.render_form("r01-000", writer, random.Random(1))
    import xml.etree.ElementTree as ElementTree

    texts = [line.attrib["text"] for line in ElementTree.fromstring(xml.split("\n", 1)[1]).iter("line")]
    assert texts and all(text == text.upper() for text in texts)


def test_cmp_boxes_enclose_the_handwritten_ink(dataset):
    """Every dark pixel of the handwritten region lies inside some cmp box (halved to JPG pixels)."""
    import xml.etree.ElementTree as ElementTree

    for form_id, filename in dataset.form_filenames_by_id.items():
        pixels = np.asarray(Image.open(filename))
        inside = np.zeros(pixels.shape, bool)
        for cmp in ElementTree.parse(dataset.root / "xml" / f"{form_id}.xml").getroot().iter("cmp"):
            x, y, w, h = (int(cmp.attrib[key]) // metadata.DOWNSAMPLE_FACTOR for key in ("x", "y", "width", "height"))
            inside[y : y + h, x : x + w] = True
        region = dataset.paragraph_region_by_id[form_id]
        window = (slice(region["y1"], region["y2"]), slice(region["x1"], region["x2"]))
        dark = pixels[window] < 128
        assert dark.sum() > 1000  # there is handwriting
        assert (dark & ~inside[window]).sum() == 0


def test_the_handwritten_region_fits_the_paragraph_canvas(dataset):
    height, width = iam_paragraphs.IMAGE_HEIGHT, iam_paragraphs.IMAGE_WIDTH
    scale = iam_paragraphs.IMAGE_SCALE_FACTOR
    for region in dataset.paragraph_region_by_id.values():
        assert (region["y2"] - region["y1"]) / scale <= height and (region["x2"] - region["x1"]) / scale <= width
    assert max(len(text) for text in dataset.paragraph_string_by_id.values()) + 2 <= iam_paragraphs.MAX_LABEL_LENGTH


@pytest.mark.parametrize("font", ["GreatVibes-Regular", "IndieFlower-Regular", "hershey-scripts"])
def test_nine_lines_of_the_largest_hand_still_fit(font, monkeypatch):
    """Worst case: the tallest fonts at the largest size and line spacing, nine lines."""
    monkeypatch.setattr(form_renderer, "MIN_LINES", form_renderer.MAX_LINES)
    writer = handwriting.Writer.sample("000", font, random.Random(0))
    writer = handwriting.dataclasses.replace(writer, x_height=handwriting.MAX_X_HEIGHT, line_spacing=4.4)
    rng = random.Random(1)
    lines = form_renderer.write_lines(writer, form_renderer.paragraph_text(rng).split(), rng)
    assert len(lines) == form_renderer.MAX_LINES  # the height budget did not have to cut the form short
    top = min(top for line in lines for *_, top in line)
    bottom = max(top + mask.shape[0] for line in lines for _, mask, _, top in line)
    padded = bottom - top + 2 * form_renderer.BOX_MARGIN + 2 * metadata.LINE_REGION_PADDING
    assert padded / iam_paragraphs.IMAGE_SCALE_FACTOR <= iam_paragraphs.IMAGE_HEIGHT


def test_rendering_is_deterministic():
    writers, _ = iam_rendered.make_writers(OPTIONS)
    first_image, first_xml = form_renderer.render_form("r01-000", writers[0], random.Random(3))
    second_image, second_xml = form_renderer.render_form("r01-000", writers[0], random.Random(3))
    assert first_xml == second_xml
    assert np.array_equal(np.asarray(first_image), np.asarray(second_image))
    assert iam_rendered.make_writers(OPTIONS) == (writers, iam_rendered.make_writers(OPTIONS)[1])


def test_the_ink_looks_like_ink(dataset):
    """Dark strokes on light paper: mostly paper, some ink, nothing saturated everywhere."""
    pixels = np.asarray(Image.open(next(iter(dataset.form_filenames_by_id.values()))), dtype=np.float32)
    assert 200 < np.median(pixels) < 255 and pixels.min() < 80
    assert 0.01 < (pixels < 128).mean() < 0.2


def test_form_ids_look_like_iam_ids():
    assert iam_rendered.form_id(0) == "r01-000" and iam_rendered.form_id(1234) == "r02-234"
    assert RenderedTree().dl_dirname.name == "iam_rendered"


@pytest.mark.slow
def test_the_tree_is_the_same_whatever_the_process_count(tmp_path):
    options = iam_rendered.RenderOptions(forms=9, writers=2, seed=4, fonts="pypi")  # 9 forms: enough to use the pool
    iam_rendered.render_tree(tmp_path / "pool", options, processes=2)
    iam_rendered.render_tree(tmp_path / "serial", options, processes=1)
    for sub in ("xml", "forms"):
        names = sorted(path.name for path in (tmp_path / "pool" / sub).iterdir())
        assert len(names) == 9
        for name in names:
            assert (tmp_path / "pool" / sub / name).read_bytes() == (tmp_path / "serial" / sub / name).read_bytes()
    assert (tmp_path / "pool" / "metadata.toml").read_text() == (tmp_path / "serial" / "metadata.toml").read_text()


def test_letter_habits_make_writers_of_one_font_write_as_different_hands():
    """--iam_rendered_letter_habits: each writer bends, stretches and weighs its letters its own way,
    the same way every time; off by default, and then the tree is the one made before it existed."""
    assert re.fullmatch(rf"forms1600_writers240_seed0_fontsall-[0-9a-f]{{6}}_v{iam_rendered.RENDERER_VERSION}",
                        iam_rendered.RenderOptions().dirname())
    with_habits = iam_rendered.RenderOptions(forms=4, writers=2, seed=11, letter_habits=1, fonts="pypi")
    assert "_letters1_" in with_habits.dirname() and with_habits.dirname() != OPTIONS.dirname()
    plain, _ = iam_rendered.make_writers(OPTIONS)
    habits, _ = iam_rendered.make_writers(with_habits)
    assert [w.font for w in plain] == [w.font for w in habits] and [w.slant for w in plain] == [w.slant for w in habits]
    assert all(w.letter_habits == 0 and w.width_scale == 1 for w in plain)

    def word(writer: handwriting.Writer, text: str = "quick brown") -> np.ndarray:
        return writer.render_word(text, random.Random(0))[0]

    for font in ("hershey-scripts", "Caveat[wght]"):
        base = handwriting.Writer.sample("000", font, random.Random(1))
        assert base.with_own_letters(0, random.Random(2)) is base
        hand_a = base.with_own_letters(1, random.Random(2))
        hand_b = base.with_own_letters(1, random.Random(3))
        assert np.array_equal(word(hand_a), word(hand_a))  # one hand: the same letters every time
        # another hand of the same font writes other letters, and not only by its width and pen
        letters_only = dataclasses.replace(hand_a, width_scale=1.0, ttf_stroke=0)
        for one, other in ((hand_a, base), (hand_a, hand_b), (letters_only, base)):
            a, b = word(one), word(other)
            assert a.shape != b.shape or np.abs(a.astype(int) - b.astype(int)).mean() > 5
    with pytest.raises(ValueError, match="--iam_rendered_letter_habits"):
        iam_rendered.RenderOptions(letter_habits=-1)
    with pytest.raises(ValueError, match="--iam_rendered_letter_habits"):
        iam_rendered.RenderOptions(letter_habits=iam_rendered.MAX_LETTER_HABITS + 1)


def test_the_letter_habits_flag_reaches_the_tree():
    import argparse

    parser = iam_rendered.RenderOptions.add_to_argparse(argparse.ArgumentParser())
    args = vars(parser.parse_args(["--iam_rendered_letter_habits=0.5"]))
    assert iam_rendered.RenderOptions.from_args(args).letter_habits == 0.5
    assert iam_rendered.RenderOptions.from_args(vars(parser.parse_args([]))) == iam_rendered.RenderOptions()


def test_what_fonts_lack_is_behind_flags_and_off_by_default():
    """Issue 33 part 3: glyph variants, baseline wave, word variation, pressure, pens; each changes the ink,
    the same way every time, and makes a tree of its own; off, the writers are those made before them."""
    import argparse

    parser = iam_rendered.RenderOptions.add_to_argparse(argparse.ArgumentParser())
    flags = ["--iam_rendered_glyph_variants=3", "--iam_rendered_baseline_wave=0.3", "--iam_rendered_word_variation=1",
             "--iam_rendered_pressure=0.5", "--iam_rendered_pens", "--iam_rendered_fonts=pypi",
             "--iam_rendered_forms=4", "--iam_rendered_writers=2", "--iam_rendered_seed=11"]
    options = iam_rendered.RenderOptions.from_args(vars(parser.parse_args(flags)))
    assert options.realism == hand_realism.Realism(3, 0.3, 1.0, 0.5, True)
    assert "_gv3_bw0.3_wv1_pr0.5_pens_" in options.dirname() and hand_realism.Realism().suffix() == ""
    plain, _ = iam_rendered.make_writers(dataclasses.replace(options, realism=hand_realism.Realism()))
    assert plain == iam_rendered.make_writers(OPTIONS)[0]
    varied, _ = iam_rendered.make_writers(options)
    assert [w.font for w in varied] == [w.font for w in plain] and {w.pen for w in varied} <= set(hand_realism.PENS)
    assert all(w.pen == "" and w.glyph_variants == 0 for w in plain)
    for font in ("Kalam-Regular", "hershey-futural"):
        base = handwriting.Writer.sample("000", font, random.Random(1))
        for change in ({"glyph_variants": 3, "variant_seed": 5}, {"word_variation": 1.0}, {"pressure": 0.8},
                       *({"pen": pen} for pen in hand_realism.PENS)):
            hand = dataclasses.replace(base, **change)
            one, again = hand.render_word("quick brown", random.Random(0)), hand.render_word("quick brown", random.Random(0))
            assert np.array_equal(one[0], again[0]), change
            plain_word = base.render_word("quick brown", random.Random(0))[0]
            assert one[0].shape != plain_word.shape or not np.array_equal(one[0], plain_word), (font, change)
    with pytest.raises(ValueError, match="--iam_rendered_pressure"):
        hand_realism.Realism(pressure=2)
