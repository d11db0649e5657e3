"""PAGE XML, ALTO and hOCR: well-formed, escaped, and holding what kraken and eScriptorium read."""
import importlib.util
import json
import sys
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import pytest
from lxml import etree

from text_recognizer.page_result import LineResult, Prediction
from text_recognizer.result_formats import ALTO_NS, FORMATS, PAGE_NS, XHTML_NS, render

TRICKY = 'a<b & "c" \'d\' >'
CREATED = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


@pytest.fixture
def prediction():
    lines = [
        LineResult(TRICKY, 0.91, (10, 20, 300, 60), [(10, 20), (300, 22), (300, 60), (10, 58)], [(10, 50), (300, 52)]),
        LineResult("line two", 0.42, (12, 70, 280, 110), [(12, 70), (280, 70), (280, 110), (12, 110)], [(12, 100), (280, 100)]),
    ]
    return Prediction(f"{TRICKY}\nline two", 0.7, [], lines, (400, 200), "lines")


def parse(document: str) -> etree._Element:
    return etree.fromstring(document.encode("utf-8"))


SCHEMA_WHEELS = Path(sys.prefix) / "schemas"  # where `make install` keeps the ocrd-validators wheel (Makefile)


def page_schema() -> etree.XMLSchema | None:
    """PAGE 2019's published XSD, as the ocrd-validators wheel ships it: from the package when it is on the
    path, else read out of the wheel that `make install` downloads (its dependencies pin pydantic 1, which
    the server's FastAPI cannot share, so it is kept, not installed)."""
    spec = importlib.util.find_spec("ocrd_validators")
    if spec is not None and spec.submodule_search_locations:
        path = Path(next(iter(spec.submodule_search_locations))) / "page.xsd"
        return etree.XMLSchema(etree.parse(str(path))) if path.exists() else None
    for wheel in sorted(SCHEMA_WHEELS.glob("ocrd_validators-*.whl")):
        with zipfile.ZipFile(wheel) as archive:  # page.xsd imports nothing but the XML namespace: one file
            return etree.XMLSchema(etree.fromstring(archive.read("ocrd_validators/page.xsd")))
    return None


def test_text_and_json(prediction):
    assert render(prediction, "text") == prediction.text
    data = json.loads(render(prediction, "json"))
    assert data["lines"][0] == {"text": TRICKY, "confidence": 0.91, "box": [10, 20, 300, 60],
                                "polygon": [[10, 20], [300, 22], [300, 60], [10, 58]], "baseline": [[10, 50], [300, 52]]}
    assert data["image_size"] == [400, 200] and data["read_by"] == "lines"


def test_page_xml_holds_what_kraken_reads(prediction):
    root = parse(render(prediction, "page", "scan 1.jpg", CREATED))
    ns = {"pc": PAGE_NS}
    assert root.tag == f"{{{PAGE_NS}}}PcGts"
    page = root.find("pc:Page", ns)
    assert (page.get("imageFilename"), page.get("imageWidth"), page.get("imageHeight")) == ("scan 1.jpg", "400", "200")
    lines = root.findall("pc:Page/pc:TextRegion/pc:TextLine", ns)
    assert len(lines) == 2
    assert lines[0].find("pc:Coords", ns).get("points") == "10,20 300,22 300,60 10,58"
    assert lines[0].find("pc:Baseline", ns).get("points") == "10,50 300,52"
    assert lines[0].find("pc:TextEquiv", ns).get("conf") == "0.9100"
    assert lines[0].find("pc:TextEquiv/pc:Unicode", ns).text == TRICKY  # escaped on the way out, intact on the way in
    assert root.find("pc:Page/pc:TextRegion/pc:Coords", ns).get("points") == "10,20 300,20 300,110 10,110"


def test_page_xml_is_valid_against_the_published_schema(prediction):
    schema = page_schema()
    if schema is None:
        pytest.skip(f"the PAGE 2019 XSD: no ocrd-validators wheel in {SCHEMA_WHEELS} (make install downloads it)")
    for shown in (prediction, Prediction("", 1.0, ["no text found"], [], (10, 10))):
        document = etree.fromstring(render(shown, "page", "x.png", CREATED).encode())
        assert schema.validate(document), schema.error_log


def test_alto_holds_what_escriptorium_reads(prediction):
    root = parse(render(prediction, "alto", "scan 1.jpg", CREATED))
    ns = {"a": ALTO_NS}
    assert root.tag == f"{{{ALTO_NS}}}alto"
    assert root.find("a:Description/a:MeasurementUnit", ns).text == "pixel"
    assert root.find("a:Description/a:sourceImageInformation/a:fileName", ns).text == "scan 1.jpg"
    page = root.find("a:Layout/a:Page", ns)
    assert (page.get("WIDTH"), page.get("HEIGHT")) == ("400", "200")
    lines = page.findall("a:PrintSpace/a:TextBlock/a:TextLine", ns)
    assert [(line.get("HPOS"), line.get("VPOS"), line.get("WIDTH"), line.get("HEIGHT")) for line in lines] == [
        ("10", "20", "290", "40"), ("12", "70", "268", "40")]
    assert lines[0].get("BASELINE") == "10,50 300,52"
    assert lines[0].find("a:Shape/a:Polygon", ns).get("POINTS") == "10,20 300,22 300,60 10,58"
    strings = lines[0].findall("a:String", ns)
    assert [(s.get("CONTENT"), s.get("WC")) for s in strings] == [(TRICKY, "0.9100")]


def test_hocr_is_xhtml_with_line_boxes_and_confidences(prediction):
    root = parse(render(prediction, "hocr", 'odd "name".jpg', CREATED))
    ns = {"h": XHTML_NS}
    assert root.tag == f"{{{XHTML_NS}}}html"
    page = root.find("h:body/h:div[@class='ocr_page']", ns)
    assert page.get("title") == 'image "odd \\"name\\".jpg"; bbox 0 0 400 200'
    spans = page.findall("h:span[@class='ocr_line']", ns)
    assert [span.text for span in spans] == [TRICKY, "line two"]
    assert spans[0].get("title").startswith("bbox 10 20 300 60; baseline ")
    assert spans[0].get("title").endswith("; x_wconf 91")
    assert spans[1].get("title") == "bbox 12 70 280 110; baseline 0.0000 -10; x_wconf 42"


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_page_without_text_is_written_in_every_format(fmt):
    empty = Prediction("", 1.0, ["no text found"], [], (10, 10))
    document = render(empty, fmt, "blank.png", CREATED)
    if fmt in ("page", "alto", "hocr"):
        parse(document)


def test_an_unknown_format_is_refused(prediction):
    with pytest.raises(ValueError, match="format must be one of"):
        render(prediction, "docx")
