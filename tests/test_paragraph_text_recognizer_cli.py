"""The script: --format, a header per file in text mode, folders, glob patterns, --output for XML formats."""
import json
import subprocess
import sys

import pytest
from lxml import etree
from model_fixtures import save_tiny_paragraph_model
from PIL import Image, ImageDraw

from text_recognizer.paragraph_text_recognizer import expand_inputs, main, output_names
from text_recognizer.result_formats import ALTO_NS, PAGE_NS
from text_recognizer.stems.paragraph_core import TARGET_LINE_PITCH


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return str(save_tiny_paragraph_model(tmp_path_factory.mktemp("model") / "model.pt", output_length=8, read_by="lines"))


@pytest.fixture(scope="module")
def scans(tmp_path_factory):
    """A folder of two pages (and a note that is no image), read in name order."""
    folder = tmp_path_factory.mktemp("scans")
    for name, lines in (("b.png", 2), ("a.jpg", 3)):
        image = Image.new("L", (300, 40 + lines * round(TARGET_LINE_PITCH)), 235)
        draw = ImageDraw.Draw(image)
        for row in range(lines):
            top = 25 + round(TARGET_LINE_PITCH) * row
            draw.line([(20, top), (260, top + 4)], fill=30, width=4)
        image.save(folder / name)
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_inputs_expand_folders_and_patterns_in_name_order(scans):
    files, errors = expand_inputs([str(scans), str(scans / "*.png"), str(scans / "*.gif"), "https://x.org/a.png"])
    assert files == [str(scans / "a.jpg"), str(scans / "b.png"), str(scans / "b.png"), "https://x.org/a.png"]
    assert errors == [f"{scans / '*.gif'}: no file matches this pattern"]
    assert output_names(["x/a.jpg", "y/a.png", "b.tif"], ".page.xml") == ["a.page.xml", "a-2.page.xml", "b.page.xml"]


def test_text_of_several_files_has_a_header_per_file_and_one_file_none(model_path, scans, capsys):
    assert main(["--model_path", model_path, str(scans)]) == 0
    out = capsys.readouterr().out.splitlines()
    headers = [n for n, line in enumerate(out) if line.startswith("==> ")]
    assert [out[n] for n in headers] == [f"==> {scans / 'a.jpg'} <==", f"==> {scans / 'b.png'} <=="]
    assert headers[1] - headers[0] == 1 + 3  # a.jpg's header and its 3 lines
    assert main(["--model_path", model_path, str(scans / "b.png")]) == 0
    single = capsys.readouterr().out
    assert "==>" not in single and len(single.splitlines()) == 2


def test_json_alias_and_format_json_print_lines_with_boxes(model_path, scans, capsys):
    assert main(["--model_path", model_path, "--json", str(scans / "a.jpg")]) == 0
    by_alias = json.loads(capsys.readouterr().out)
    assert main(["--model_path", model_path, "--format", "json", str(scans / "a.jpg")]) == 0
    assert json.loads(capsys.readouterr().out) == by_alias
    assert by_alias["file"] == str(scans / "a.jpg") and len(by_alias["lines"]) == 3
    assert by_alias["image_size"] == [300, 40 + 3 * round(TARGET_LINE_PITCH)]
    assert all(set(line) >= {"text", "confidence", "box", "polygon"} for line in by_alias["lines"])


def test_an_xml_format_goes_to_stdout_for_one_file(model_path, scans, capsys):
    assert main(["--model_path", model_path, "--format", "page", str(scans / "b.png")]) == 0
    document = etree.fromstring(capsys.readouterr().out.encode())
    assert document.find(f"{{{PAGE_NS}}}Page").get("imageFilename") == "b.png"


def test_xml_formats_of_several_files_need_output_and_write_one_file_each(model_path, scans, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--model_path", model_path, "--format", "alto", str(scans)])
    assert exit_.value.code == 2 and "--output" in capsys.readouterr().err
    out = tmp_path / "out"
    assert main(["--model_path", model_path, "--format", "alto", "--output", str(out), str(scans / "*.*")]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "notes.txt" in captured.err  # the pattern matched a file that is no image
    assert sorted(p.name for p in out.iterdir()) == ["a.alto.xml", "b.alto.xml"]
    lines = etree.parse(str(out / "a.alto.xml")).findall(f".//{{{ALTO_NS}}}TextLine")
    assert len(lines) == 3


def test_a_blank_page_among_others_is_read_empty_with_a_warning_on_stderr(model_path, scans, tmp_path, capsys):
    """Issue 35: a blank page printed nothing at all in text format; it says why, and the other pages read."""
    blank = tmp_path / "blank.png"
    Image.new("L", (300, 200), 255).save(blank)
    assert main(["--model_path", model_path, str(blank), str(scans / "b.png")]) == 0
    captured = capsys.readouterr()
    assert f"==> {blank} <==" in captured.out and f"==> {scans / 'b.png'} <==" in captured.out
    assert captured.err.strip().splitlines() == [f"warning: {blank}: no text found"]
    assert main(["--model_path", model_path, "--json", str(blank)]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["warnings"] == ["no text found"] and captured.err == ""  # JSON carries it already


def test_a_reader_that_stops_early_gets_no_traceback():
    """`text-recognizer read scans/ | head`: head closes the pipe after a few lines, and the rest of the
    output has nowhere to go; that ends the command quietly (exit 1), without a BrokenPipeError traceback."""
    code = ("import sys, text_recognizer.paragraph_text_recognizer as cli\n"
            "def many_lines(argv):\n"
            "    for _ in range(200_000):\n"
            "        print('a line of text read from a page')\n"
            "    return 0\n"
            "cli._read_files = many_lines\n"
            "sys.exit(cli.main([]))\n")
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.read(100)
    process.stdout.close()
    errors = process.stderr.read().decode()
    assert process.wait(timeout=60) == 1
    assert "Traceback" not in errors and "BrokenPipeError" not in errors
