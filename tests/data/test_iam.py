"""The IAM raw dataset: XML parsing, line regions, splits, and the real-archive path (local server)."""
import argparse
import hashlib
import http.server
import shutil
import socket
import threading
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from text_recognizer.data.sources.iam import IAM, ArchiveTree, split_ids
from text_recognizer.data.sources.iam_xml import line_region, parse_form_xml
from text_recognizer.data.synthetic import iam_rendered
from text_recognizer.data.synthetic.iam_rendered import RenderOptions
from text_recognizer.metadata import iam as metadata

IMAGE_SIZE = (400, 300)  # (width, height) of the hand-made stored images


def write_form(tree: Path, form_id: str, writer_id: str, lines_xml: str) -> Path:
    """A minimal IAM-format form: forms/<id>.jpg (blank) and xml/<id>.xml around the given lines."""
    (tree / "forms").mkdir(parents=True, exist_ok=True)
    (tree / "xml").mkdir(parents=True, exist_ok=True)
    Image.new("L", IMAGE_SIZE, 255).save(tree / "forms" / f"{form_id}.jpg")
    xml = tree / "xml" / f"{form_id}.xml"
    xml.write_text(
        f'<?xml version="1.0" encoding="ISO-8859-1"?>\n<form id="{form_id}" writer-id="{writer_id}" width="800" height="600">'
        f'<machine-printed-part><machine-print-line text="printed"/></machine-printed-part>'
        f"<handwritten-part>{lines_xml}</handwritten-part></form>"
    )
    return xml


LINES = (
    '<line id="f-00" text="He said &quot;hi&quot; &amp; left"><word id="f-00-00" text="He" tag="PPS">'
    '<cmp x="100" y="200" width="50" height="30"/><cmp x="160" y="190" width="40" height="50"/></word></line>'
    '<line id="f-01" text="no boxes here"><word id="f-01-00" text="no" tag="AT"/></line>'
    '<line id="f-02" text="corner"><word id="f-02-00" text="corner" tag="NN">'
    '<cmp x="10" y="500" width="780" height="90"/></word></line>'
)


def test_parse_decodes_quotes_and_skips_lines_without_boxes(tmp_path):
    xml = write_form(tmp_path, "a01-000", "007", LINES)
    with pytest.warns(UserWarning, match="no cmp box"):
        form = parse_form_xml(xml, tmp_path / "forms")
    assert form["id"] == "a01-000" and form["writer_id"] == "007"
    # The line with no cmp box is dropped with its text, so texts and regions stay aligned.
    assert form["line_strings"] == ['He said "hi" & left', "corner"]
    assert len(form["line_regions"]) == 2


def test_line_region_is_the_halved_union_of_boxes_padded_by_16():
    # Boxes (x, y, w, h) at scan resolution: union x 100..200, y 190..240 -> halved 50..100, 95..120.
    region = line_region([[100, 200, 50, 30], [160, 190, 40, 50]], width=400, height=300)
    assert metadata.DOWNSAMPLE_FACTOR == 2 and metadata.LINE_REGION_PADDING == 16
    assert region == {"x1": 50 - 16, "y1": 95 - 16, "x2": 100 + 16, "y2": 120 + 16}


def test_line_region_is_clipped_to_the_image(tmp_path):
    xml = write_form(tmp_path, "a01-001", "007", LINES)
    with pytest.warns(UserWarning):
        regions = parse_form_xml(xml, tmp_path / "forms")["line_regions"]
    # Union 10..790 x 500..590 -> halved 5..395 x 250..295 -> padded and clipped to the 400x300 image.
    assert regions[1] == {"x1": 0, "y1": 234, "x2": 400, "y2": 300}


def test_malformed_xml_error_names_the_file(tmp_path):
    xml = write_form(tmp_path, "a01-002", "007", LINES)
    xml.write_text(xml.read_text()[:-20])  # cut off mid-element
    with pytest.raises(ValueError, match="a01-002.xml"):
        parse_form_xml(xml, tmp_path / "forms")


def test_splits_are_disjoint_and_keep_test_writers_out_of_train_and_val():
    writers = {f"f{i:03d}": f"w{i % 20}" for i in range(200)}
    test_list = ["f000", "f001", "not-a-form"]  # writers w0 and w1
    train, val, test, excluded = split_ids(writers, test_list)
    assert test == ["f000", "f001"]
    assert not (set(train) & set(val)) and not (set(train + val) & set(test))
    assert set(train + val + test + excluded) == set(writers)
    assert {writers[i] for i in train + val}.isdisjoint({"w0", "w1"})
    assert len(excluded) == 18 and len(train) == int(0.8 * 180) and len(val) == 180 - len(train)
    assert split_ids(writers, test_list) == (train, val, test, excluded)  # seeded


def test_the_metadata_lists_the_232_lwitlrt_test_forms():
    import toml

    info = toml.load(metadata.METADATA_FILENAME)
    assert len(info["test_ids"]) == len(set(info["test_ids"])) == 232
    assert info["sha256"] == "f3c9e87a88a313e557c6d3548ed8a2a1af2dc3c4a678c5f3fc6f972ba4a50c55"


# ------------------------------------------------------------ the real-archive path, end to end
@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """A small iamdb.zip in the archive's layout (iamdb/forms/*.jpg, iamdb/xml/*.xml), from rendered forms."""
    folder = tmp_path_factory.mktemp("archive")
    iam_rendered.render_tree(folder / "tree", iam_rendered.RenderOptions(forms=3, writers=2, seed=5, fonts="pypi"), processes=1)
    zip_filename = folder / "iamdb.zip"
    with zipfile.ZipFile(zip_filename, "w") as archive:
        for sub in ("forms", "xml"):
            for path in sorted((folder / "tree" / sub).iterdir()):
                archive.write(path, f"iamdb/{sub}/{path.name}")
    return zip_filename


@pytest.fixture(scope="module")
def server(archive):
    handler = lambda *args: http.server.SimpleHTTPRequestHandler(*args, directory=str(archive.parent))  # noqa: E731
    http.server.SimpleHTTPRequestHandler.log_message = lambda *args: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/iamdb.zip"


def test_real_source_downloads_verifies_extracts_and_parses(archive, server, tmp_path):
    sha256 = hashlib.sha256(archive.read_bytes()).hexdigest()
    dataset = IAM(ArchiveTree(tmp_path, url=f"{server}/iamdb.zip", sha256=sha256))
    dataset.prepare_data()
    assert (tmp_path / "iamdb.zip").is_file() and (tmp_path / "iamdb" / "xml").is_dir()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["iamdb", "iamdb.zip"]  # no staging left
    assert dataset.cache_name == "iam" and len(dataset.all_ids) == 3
    assert dataset.form_filenames_by_id["r01-000"].is_file()
    assert all(len(dataset.line_strings_by_id[i]) == len(dataset.line_regions_by_id[i]) for i in dataset.all_ids)
    assert dataset.test_ids == []  # IAM's test forms are not in this tiny archive
    assert sorted(dataset.train_ids + dataset.val_ids) == dataset.all_ids
    assert "Forms: 3" in repr(dataset)
    # Prepared once: a second call neither downloads nor extracts (the URL is dead now).
    IAM(ArchiveTree(tmp_path, url=closed_port_url(), sha256=sha256)).prepare_data()


def test_real_source_uses_a_placed_archive_and_checks_it(archive, tmp_path):
    shutil.copy(archive, tmp_path / "iamdb.zip")
    sha256 = hashlib.sha256(archive.read_bytes()).hexdigest()
    IAM(ArchiveTree(tmp_path, url=closed_port_url(), sha256=sha256)).prepare_data()
    assert (tmp_path / "iamdb" / "forms" / "r01-000.jpg").is_file()
    other = tmp_path / "other"
    other.mkdir()
    (other / "iamdb.zip").write_bytes(b"not the archive")
    with pytest.raises(RuntimeError, match="checksum"):
        IAM(ArchiveTree(other, url=closed_port_url(), sha256=sha256)).prepare_data()


def test_offline_error_says_what_to_do(tmp_path):
    url = closed_port_url()
    with pytest.raises(RuntimeError) as error:
        IAM(ArchiveTree(tmp_path, url=url)).prepare_data()
    message = str(error.value)
    assert url in message and "refused" in message.lower()
    assert "iamdb.zip" in message and str(tmp_path) in message and "--iam_source=rendered" in message
    assert sorted(tmp_path.iterdir()) == []  # nothing half-made left behind


def test_flags_build_the_dataset():
    parser = IAM.add_to_argparse(argparse.ArgumentParser())
    args = parser.parse_args(["--iam_source=rendered", "--iam_rendered_forms=30", "--iam_rendered_writers=3",
                              "--iam_rendered_fonts=pypi"])
    dataset = IAM.from_args(args)
    assert dataset.source == "rendered" and dataset.tree.options.forms == 30
    assert dataset.cache_name.startswith("iam_rendered")
    assert IAM.from_args({}).source == metadata.DEFAULT_SOURCE == "iam"
    with pytest.raises(ValueError, match="unknown IAM source"):
        IAM.from_args({"iam_source": "nope"})
    with pytest.raises(TypeError):
        RenderOptions(pages=3)  # unknown render options are errors


def test_parse_is_cached_in_the_tree(archive, tmp_path):
    shutil.copy(archive, tmp_path / "iamdb.zip")
    sha256 = hashlib.sha256(archive.read_bytes()).hexdigest()
    dataset = IAM(ArchiveTree(tmp_path, url=closed_port_url(), sha256=sha256)).load()
    cache = tmp_path / "iamdb" / "parsed.json"
    assert cache.is_file()
    (tmp_path / "iamdb" / "xml" / "r01-000.xml").write_text("<form")  # would fail if parsed again
    again = IAM(ArchiveTree(tmp_path, url=closed_port_url(), sha256=sha256))
    assert again.line_strings_by_id == dataset.line_strings_by_id


def test_archive_layouts_forms_and_xml_at_the_top_and_not_an_archive(archive, tmp_path):
    flat = tmp_path / "flat"
    flat.mkdir()
    with zipfile.ZipFile(archive) as source, zipfile.ZipFile(flat / "iamdb.zip", "w") as target:
        for name in source.namelist():
            target.writestr(name.removeprefix("iamdb/"), source.read(name))
    IAM(ArchiveTree(flat, url=closed_port_url(), sha256="")).prepare_data()  # "" skips the check
    assert (flat / "iamdb" / "xml" / "r01-000.xml").is_file()
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "iamdb.zip").write_bytes(b"not a zip")
    with pytest.raises(RuntimeError, match="not a zip file"):
        IAM(ArchiveTree(broken, url=closed_port_url(), sha256="")).prepare_data()
    assert sorted(path.name for path in broken.iterdir()) == ["iamdb.zip"]


def _bomb(path, megabytes=150):
    """A zip of under 200 kB that expands to `megabytes` MB of zeros, written a megabyte at a time."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive, \
            archive.open("iamdb/forms/zeros.jpg", "w", force_zip64=True) as member:
        for _ in range(megabytes):
            member.write(bytes(1 << 20))
    return path


def test_a_zip_bomb_is_stopped_under_the_caps_even_without_a_checksum(tmp_path):
    """Issue 35: with the checksum disabled (sha256=""), a 3.1 MB archive wrote 3.22 GB."""
    bomb = _bomb(tmp_path / "iamdb.zip")
    assert bomb.stat().st_size < 1 << 20
    with pytest.raises(RuntimeError, match="expands to more than 104,857,600 bytes .*zip bomb") as error:
        IAM(ArchiveTree(tmp_path, url=closed_port_url(), sha256="")).prepare_data()
    assert "\n" not in str(error.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["iamdb.zip"]  # the partial extraction removed


def test_zip_members_that_reach_outside_are_refused(tmp_path):
    from text_recognizer.util import DataUnavailableError, extract_zip, read_zip_member

    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("../evil.txt", "escaped")
    (tmp_path / "out").mkdir()
    with pytest.raises(DataUnavailableError, match="outside the folder"):
        extract_zip(archive, tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists()
    bomb = _bomb(tmp_path / "bomb.zip", megabytes=120)
    with pytest.raises(DataUnavailableError, match="zeros.jpg expands to more than"):
        read_zip_member(bomb, "iamdb/forms/zeros.jpg")
