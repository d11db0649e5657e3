"""HandwritingFolder: users' own folders (PAGE 2013/2019, ALTO v4, image+txt, manifests) load to the
same samples as the IAM forms they were written from, split by document, cached, and checked against
the vocabulary before any training."""
import argparse
import csv
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from text_recognizer.data.handwriting_folder import HandwritingFolder
from text_recognizer.data.sources import iam_crops
from text_recognizer.metadata import iam_paragraphs
from text_recognizer.util import DataUnavailableError
from text_recognizer.vocabulary import convert_labels_to_strings

pytestmark = pytest.mark.usefixtures("own_data_cache")


def folder(data_dir, **flags) -> HandwritingFolder:
    data = HandwritingFolder(argparse.Namespace(data_dir=str(data_dir), batch_size=4, num_workers=0, **flags))
    data.prepare_data()
    data.setup()
    return data


def samples(data: HandwritingFolder) -> list[tuple[str, str, bytes]]:
    """(split, label, crop pixels) of every cached sample, in order."""
    records = iam_crops.read_cache(data.cache_dirname)
    return [(split, r["label"], np.asarray(Image.open(data.cache_dirname / split / f"{r['id']}.png")).tobytes())
            for split in ("train", "val", "test") for r in records[split]]


@pytest.mark.parametrize("unit", ["paragraph", "line"])
def test_page_2013_2019_alto_and_image_txt_folders_load_to_the_same_samples(own_data_folders, unit):
    layouts = ["page", "page2013", "alto"] + (["image_txt"] if unit == "paragraph" else [])
    loaded = {layout: samples(folder(own_data_folders[layout], unit=unit)) for layout in layouts}
    for layout in layouts[1:]:
        assert loaded[layout] == loaded["page"], layout
    iam = own_data_folders["iam"]
    expected = ({iam.paragraph_string_by_id[i] for i in iam.all_ids} if unit == "paragraph"
                else {text for i in iam.all_ids for text in iam.line_strings_by_id[i]})
    assert {label for _, label, _ in loaded["page"]} == expected
    assert {split for split, _, _ in loaded["page"]} == {"train", "val", "test"}


def test_samples_feed_the_stems_and_the_content_sized_batches(own_data_folders):
    paragraphs = folder(own_data_folders["page"], augment_data="false")
    x, y = next(iter(paragraphs.val_dataloader()))
    assert x.ndim == 4 and x.shape[1] == 1 and x.shape[2] <= 576 and x.shape[3] <= 640 and y.shape[1] == 682
    assert paragraphs.config()["mapping"][-1] == "\n" and paragraphs.batching.curriculum.line_range(0) == (1, None)
    lines = folder(own_data_folders["page"], unit="line", stem="line")
    x, y = next(iter(lines.train_dataloader()))
    assert tuple(x.shape[1:]) == (1, 56, 1024) and y.shape[1] == 89 and "\n" not in lines.mapping
    with pytest.raises(ValueError, match="--line_pitch is the paragraph stem's"):
        folder(own_data_folders["page"], unit="line", stem="line", line_pitch=24)


def test_split_by_document_with_a_seed(own_data_folders):
    def split_of_documents(**flags):
        records = iam_crops.read_cache(folder(own_data_folders["page"], unit="line", **flags).cache_dirname)
        return {split: sorted({r["id"].split("-r")[0] for r in records[split]}) for split in records}

    first, again = split_of_documents(), split_of_documents()
    assert first == again and sum(map(len, first.values())) == 8 and len(first["val"]) == len(first["test"]) == 1
    assert not set(first["train"]) & (set(first["val"]) | set(first["test"]))  # a page's lines stay together
    assert split_of_documents(split_seed=1) != first
    wider = split_of_documents(val_fraction=0.25, test_fraction=0.25)
    assert (len(wider["train"]), len(wider["val"]), len(wider["test"])) == (4, 2, 2)


def test_train_val_test_subfolders_are_the_splits(own_data_folders, tmp_path):
    source = own_data_folders["image_txt"]
    names = sorted(p.stem for p in source.glob("*.png"))
    for split, chosen in (("train", names[:5]), ("val", names[5:7]), ("test", names[7:])):
        (tmp_path / "mine" / split).mkdir(parents=True)
        for name in chosen:
            for suffix in (".png", ".txt"):
                shutil.copy(source / f"{name}{suffix}", tmp_path / "mine" / split / f"{name}{suffix}")
    data = folder(tmp_path / "mine")
    assert (len(data.data_train), len(data.data_val), len(data.data_test)) == (5, 2, 1)


@pytest.mark.parametrize("kind", ["labels.jsonl", "labels.csv"])
def test_manifests_name_images_and_texts(own_data_folders, tmp_path, kind):
    source, mine = own_data_folders["image_txt"], tmp_path / "mine"
    (mine / "images").mkdir(parents=True)
    rows = []
    for png in sorted(source.glob("*.png")):
        shutil.copy(png, mine / "images" / png.name)
        rows.append({"image": f"images/{png.name}", "text": png.with_suffix(".txt").read_text()})
    if kind.endswith("jsonl"):
        (mine / kind).write_text("".join(json.dumps(row) + "\n" for row in rows))
    else:
        with open(mine / kind, "w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=["image", "text"])
            writer.writeheader()
            writer.writerows(rows)
    assert samples(folder(mine)) == samples(folder(source))


def test_the_cache_is_reused_and_made_anew_when_a_file_changes(own_data_folders, tmp_path, own_data_cache):
    mine = shutil.copytree(own_data_folders["image_txt"], tmp_path / "mine")
    first = folder(mine).cache_dirname
    stamp = (first / "labels.json").stat().st_mtime_ns
    assert folder(mine).cache_dirname == first and (first / "labels.json").stat().st_mtime_ns == stamp
    text = next(mine.glob("*.txt"))
    text.write_text("A corrected transcription\n")
    os.utime(text, ns=(stamp + 10**9, stamp + 10**9))
    second = folder(mine)
    assert second.cache_dirname != first and "A corrected transcription" in {label for _, label, _ in samples(second)}
    assert sorted(p.name for p in own_data_cache.iterdir() if p.name.startswith(".")) == []  # no half-written caches


def _with_texts(own_data_folders, tmp_path, texts: dict[int, str]) -> Path:
    mine = shutil.copytree(own_data_folders["image_txt"], tmp_path / "mine")
    for index, text in texts.items():
        sorted(mine.glob("*.txt"))[index].write_text(text)
    return mine


def test_unknown_characters_are_all_listed_with_counts_and_samples_before_training(own_data_folders, tmp_path):
    mine = _with_texts(own_data_folders, tmp_path, {0: "caf\u00e9 \u201cso\u201d", 1: "\u00e9t\u00e9 \u2603", 7: "ok \u00e9"})
    with pytest.raises(DataUnavailableError) as error:
        folder(mine)
    message = str(error.value)
    assert "holds 4 characters" in message and "--unknown_chars=replace" in message
    assert "'\u00e9' (U+00E9) x4, e.g. in r01-000, r01-001, r01-007" in message  # all splits, first ids
    assert "'\u2603' (U+2603) x1, e.g. in r01-001" in message and "'\u201c' (U+201C) x1" in message
    assert "--extra_chars=" in message  # what a new model that writes them needs


def test_extra_chars_append_to_the_vocabulary_once_each(own_data_folders, tmp_path):
    mine = _with_texts(own_data_folders, tmp_path, {0: "caf\u00e9 \u2603", 1: "\u00e9t\u00e9"})
    data = folder(mine, extra_chars="\u2603\u00e9\u2603a")  # 'a' is already there
    assert data.mapping == list(iam_paragraphs.MAPPING) + ["\u2603", "\u00e9"]
    assert "caf\u00e9 \u2603" in trained_labels(data) and "\u00e9t\u00e9" in trained_labels(data)
    with pytest.raises(ValueError, match="control or format characters"):
        folder(mine, extra_chars="\u00e9\x07")


def test_unknown_chars_drop_leaves_out_their_samples_and_replace_uses_look_alikes(own_data_folders, tmp_path):
    mine = _with_texts(own_data_folders, tmp_path, {0: "caf\u00e9 \u201cso\u201d", 1: "\u00e9t\u00e9 \u2603"})
    dropped = folder(mine, unknown_chars="drop")
    assert len(trained_labels(dropped)) == 6 and "dropped 2 samples" in dropped.summary
    assert not any(label.startswith(("caf", "et")) for label in trained_labels(dropped))
    replaced = folder(mine, unknown_chars="replace")
    assert 'cafe "so"' in trained_labels(replaced) and len(trained_labels(replaced)) == 7  # the snowman's is dropped
    assert "replaced '\u00e9' by 'e'" in replaced.summary and "dropped 1 samples holding '\u2603'" in replaced.summary


def trained_labels(data: HandwritingFolder) -> list[str]:
    return [text for dataset in (data.data_train, data.data_val, data.data_test)
            for text in convert_labels_to_strings(dataset.labels, data.mapping)]


def test_no_folder_or_no_samples_say_what_to_do(tmp_path):
    with pytest.raises(DataUnavailableError, match="is not a folder"):
        folder(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataUnavailableError, match="holds no training samples"):
        folder(tmp_path / "empty")


# Issue 35: own-data folders reached outside themselves, merged samples of one id, and a few broken files
# gave tracebacks or errors that did not name the file. Each now stops with one line naming it.


def _secret_image(tmp_path) -> Path:
    outside = tmp_path / "outside"
    outside.mkdir(exist_ok=True)
    Image.new("L", (60, 40), 255).save(outside / "secret.png")
    return outside / "secret.png"


def _page_xml(image_name: str) -> str:
    namespace = "http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15"
    return (f'<PcGts xmlns="{namespace}"><Page imageFilename="{image_name}"><TextRegion id="r0"><TextLine id="l0">'
            '<Coords points="1,1 50,1 50,30 1,30"/><TextEquiv><Unicode>secret</Unicode></TextEquiv></TextLine>'
            "</TextRegion></Page></PcGts>")


@pytest.mark.parametrize("reach", ["absolute", "relative"])
def test_a_layout_naming_an_image_outside_the_folder_is_refused_unless_allowed(own_data_folders, tmp_path, reach):
    secret = _secret_image(tmp_path)
    mine = shutil.copytree(own_data_folders["page"], tmp_path / "data" / "mine")
    name = str(secret) if reach == "absolute" else "../../outside/secret.png"
    if reach == "relative":  # ../../outside from data/mine/ is tmp_path/outside
        assert (mine / name).resolve() == secret
    (mine / "zz-reach.xml").write_text(_page_xml(name))
    with pytest.raises(DataUnavailableError, match=f"zz-reach.xml names the page image .*{secret}, outside") as error:
        folder(mine)
    assert "\n" not in str(error.value)
    allowed = folder(mine, allow_outside_files=True)
    assert "secret" in {label for _, label, _ in samples(allowed)}


def test_a_layout_naming_etc_passwd_is_refused_without_opening_it(own_data_folders, tmp_path, monkeypatch):
    mine = shutil.copytree(own_data_folders["page"], tmp_path / "mine")
    (mine / "zz-passwd.xml").write_text(_page_xml("/etc/passwd"))
    opened = []
    original_open = Image.open
    monkeypatch.setattr(Image, "open", lambda path, *a, **k: opened.append(str(path)) or original_open(path, *a, **k))
    with pytest.raises(DataUnavailableError, match="outside"):
        folder(mine)
    assert "/etc/passwd" not in opened


@pytest.mark.parametrize("link", ["image", "text"])
def test_linked_image_text_pairs_reaching_outside_are_refused_unless_allowed(own_data_folders, tmp_path, link):
    secret = _secret_image(tmp_path)
    (secret.parent / "secret.txt").write_text("secret\n")
    mine = shutil.copytree(own_data_folders["image_txt"], tmp_path / "mine")
    if link == "image":
        (mine / "zz.png").symlink_to(secret)
        (mine / "zz.txt").write_text("secret\n")
    else:
        Image.new("L", (60, 40), 255).save(mine / "zz.png")
        (mine / "zz.txt").symlink_to(secret.parent / "secret.txt")
    with pytest.raises(DataUnavailableError, match=f"zz.{'png' if link == 'image' else 'txt'} is .*, outside"):
        folder(mine)
    assert "secret" in {label for _, label, _ in samples(folder(mine, allow_outside_files=True))}


def test_a_manifest_entry_outside_the_folder_is_refused(own_data_folders, tmp_path):
    secret = _secret_image(tmp_path)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "labels.jsonl").write_text(json.dumps({"image": str(secret), "text": "secret"}) + "\n")
    with pytest.raises(DataUnavailableError, match="labels.jsonl's entry .* outside"):
        folder(mine)


def test_two_files_of_one_sample_id_are_refused_naming_both(own_data_folders, tmp_path):
    mine = shutil.copytree(own_data_folders["image_txt"], tmp_path / "mine")
    for name in ("a b", "a_b"):
        Image.new("L", (60, 40), 255).save(mine / f"{name}.png")
        (mine / f"{name}.txt").write_text(f"text of {name}\n")
    with pytest.raises(DataUnavailableError, match=r"a b.png and .*a_b.png both become sample 'a_b'"):
        folder(mine)


@pytest.mark.parametrize("case, message", [
    ("dangling link", r"zz.png is a link to .*, which does not exist"),
    ("not an image", r"zz.png cannot be read as an image"),
    ("not utf-8", r"zz.txt is not UTF-8 text"),
    ("too long", r"zz.png: the transcription of sample 'zz' has 1501 characters, more than the 680"),
])
def test_broken_files_in_a_folder_are_one_line_naming_the_file(own_data_folders, tmp_path, own_data_cache, case, message):
    mine = shutil.copytree(own_data_folders["image_txt"], tmp_path / "mine")
    (mine / "zz.txt").write_text("a fine text\n")
    if case == "dangling link":
        (mine / "zz.png").symlink_to(tmp_path / "gone.png")
    elif case == "not an image":
        (mine / "zz.png").write_text("not an image at all")
    else:
        Image.new("L", (60, 40), 255).save(mine / "zz.png")
        if case == "not utf-8":
            (mine / "zz.txt").write_bytes(b"caf\xe9\n")
        else:
            (mine / "zz.txt").write_text("word " * 300 + "x")
    with pytest.raises(DataUnavailableError, match=message) as error:
        folder(mine)
    assert "\n" not in str(error.value)
    assert not [p for p in own_data_cache.rglob("*") if p.name.startswith(".")]  # no half-written cache left
