"""XML of users' pages and of IAM is parsed safely (defusedxml), and layout problems are named."""
import shutil
import warnings

import pytest
from PIL import Image

from text_recognizer.data.sources.iam_xml import parse_form_xml
from text_recognizer.data.sources.layout_xml import LayoutError, read_layout
from text_recognizer.data.sources.safe_xml import UnsafeXMLError, parse_xml

PAGE_NS = "http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15"
BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<PcGts xmlns="{ns}"><Page imageFilename="p.png"><TextRegion id="r"><TextLine id="l">
<Coords points="0,0 9,9"/><TextEquiv><Unicode>&lol3;</Unicode></TextEquiv></TextLine></TextRegion></Page></PcGts>
"""
EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE form [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<form id="x01-000" writer-id="000"><handwritten-part><line id="l" text="&secret;"/></handwritten-part></form>
"""


def page(lines: str, image: str = "p.png") -> str:
    return f'<PcGts xmlns="{PAGE_NS}"><Page imageFilename="{image}"><TextRegion id="r0">{lines}</TextRegion></Page></PcGts>'


def line(id_: str, points: str | None, text: str | None) -> str:
    coords = f'<Coords points="{points}"/>' if points is not None else ""
    equiv = f"<TextEquiv><Unicode>{text}</Unicode></TextEquiv>" if text is not None else ""
    return f'<TextLine id="{id_}">{coords}{equiv}</TextLine>'


@pytest.mark.parametrize("content", [BILLION_LAUGHS.format(ns=PAGE_NS), EXTERNAL_ENTITY])
def test_hostile_xml_is_refused_naming_the_file(tmp_path, content):
    path = tmp_path / "hostile.xml"
    path.write_text(content)
    with pytest.raises(UnsafeXMLError, match=str(path)):
        parse_xml(path)
    with pytest.raises(UnsafeXMLError, match=str(path)):
        read_layout(path)


def test_the_iam_parser_refuses_entities_too(tmp_path):
    (tmp_path / "xml").mkdir()
    path = tmp_path / "xml" / "x01-000.xml"
    path.write_text(EXTERNAL_ENTITY)
    with pytest.raises(UnsafeXMLError, match="x01-000.xml was refused"):
        parse_form_xml(path, tmp_path / "forms")


def test_lines_without_coordinates_or_text_are_skipped_and_outside_boxes_clipped_with_warnings(tmp_path):
    Image.new("L", (100, 50), 255).save(tmp_path / "p.png")
    path = tmp_path / "p.xml"
    path.write_text(page(line("fine", "10,10 40,10 40,20 10,20", "ok") + line("nobox", None, "x")
                         + line("notext", "1,1 5,5", None) + line("wide", "-5,30 120,30 120,60 -5,60", "big")))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        layout = read_layout(path)
    messages = " | ".join(str(w.message) for w in caught)
    assert "line 'nobox' has no coordinates; line skipped" in messages
    assert "line 'notext' has no text; line skipped" in messages
    assert "line 'wide': coordinates (-5, 30)-(121, 61) lie outside the 100x50 image; clipped" in messages
    assert [(ln.id, ln.box, ln.text) for ln in layout.regions[0].lines] == [("fine", (10, 10, 41, 21), "ok"),
                                                                            ("wide", (0, 30, 100, 50), "big")]


def test_a_page_without_its_image_names_both_files(tmp_path):
    path = tmp_path / "p.xml"
    path.write_text(page(line("l", "0,0 9,9", "x"), image="scan_17.jpg"))
    with pytest.raises(LayoutError) as error:
        read_layout(path)
    assert str(path) in str(error.value) and str(tmp_path / "scan_17.jpg") in str(error.value)


def test_the_reading_order_sorts_regions_and_other_xml_is_ignored(tmp_path):
    Image.new("L", (100, 100), 255).save(tmp_path / "p.png")
    regions = "".join(f'<TextRegion id="{r}">{line(r + "l", f"0,{y} 50,{y + 9}", r)}</TextRegion>'
                      for r, y in (("a", 0), ("b", 20), ("c", 40)))
    order = ('<ReadingOrder><OrderedGroup id="g"><RegionRefIndexed index="1" regionRef="a"/>'
             '<RegionRefIndexed index="0" regionRef="c"/><RegionRefIndexed index="2" regionRef="b"/></OrderedGroup></ReadingOrder>')
    (tmp_path / "p.xml").write_text(f'<PcGts xmlns="{PAGE_NS}"><Page imageFilename="p.png">{order}{regions}</Page></PcGts>')
    assert [r.id for r in read_layout(tmp_path / "p.xml").regions] == ["c", "a", "b"]
    (tmp_path / "other.xml").write_text("<catalog><book/></catalog>")
    assert read_layout(tmp_path / "other.xml") is None


def test_a_hostile_page_in_a_folder_stops_handwriting_folder_naming_it(own_data_folders, tmp_path, own_data_cache):
    import argparse

    from text_recognizer.data.handwriting_folder import HandwritingFolder
    from text_recognizer.util import DataUnavailableError

    mine = shutil.copytree(own_data_folders["page"], tmp_path / "mine")
    (mine / "zz-hostile.xml").write_text(BILLION_LAUGHS.format(ns=PAGE_NS))
    data = HandwritingFolder(argparse.Namespace(data_dir=str(mine)))
    with pytest.raises(DataUnavailableError, match="zz-hostile.xml was refused"):
        data.prepare_data()


@pytest.mark.parametrize("content, message", [
    (page(line("huge", "1" + "0" * 400 + ",1 5,5", "x")), "line 'huge' has a coordinate that is not a finite number"),
    (page(line("l", "1,1 5,5", "x")).replace("<TextEquiv>", '<TextEquiv index="abc">'), "index='abc', not an integer"),
])
def test_numbers_that_are_none_are_one_line_naming_the_file(tmp_path, content, message):
    Image.new("L", (100, 50), 255).save(tmp_path / "p.png")
    path = tmp_path / "p.xml"
    path.write_text(content)
    with pytest.raises(LayoutError, match=message) as error:
        read_layout(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_a_page_image_that_is_no_image_is_one_line_naming_both(tmp_path):
    (tmp_path / "p.png").write_text("not an image")
    (tmp_path / "p.xml").write_text(page(line("l", "1,1 5,5", "x")))
    with pytest.raises(LayoutError, match="p.xml: its page image .*p.png cannot be read as an image"):
        read_layout(tmp_path / "p.xml")
