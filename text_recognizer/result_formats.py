"""A page read (page_result.Prediction) written as text, JSON, PAGE XML, ALTO or hOCR.

- text: the page's text, lines separated by "\\n";
- json: the Prediction as a JSON object (lines with text, confidence, box [x0, y0, x1, y1], polygon, baseline);
- page: PAGE XML 2019-07-15 (PRImA): one TextRegion holding the lines, each with Coords, Baseline and
  TextEquiv/Unicode with @conf; the region's TextEquiv is the page text;
- alto: ALTO v4: pixel units, one TextBlock in the PrintSpace, each TextLine with its box, BASELINE
  (points, ALTO 4.2), its polygon as a Shape and one String holding the whole line (CONTENT, WC): the
  recognizer reads lines, not words, and has no word boxes to give;
- hocr: an XHTML page with an ocr_page and one ocr_line span per line (bbox, baseline, x_wconf 0-100).

The XML formats are written with lxml, which escapes the text. Coordinates are the input image's pixels.
"""
from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime, timezone
from typing import Any

from lxml import etree

from text_recognizer.page_result import LineResult, Point, Prediction

FORMATS = ("text", "json", "page", "alto", "hocr")
XML_FORMATS = ("page", "alto", "hocr")
MEDIA_TYPES = {
    "text": "text/plain; charset=utf-8",
    "json": "application/json",
    "page": "application/xml",  # PAGE and ALTO have no registered media type of their own
    "alto": "application/xml",
    "hocr": "application/xhtml+xml",
}
SUFFIXES = {"text": ".txt", "json": ".json", "page": ".page.xml", "alto": ".alto.xml", "hocr": ".hocr.html"}

PAGE_NS = "http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15"
ALTO_NS = "http://www.loc.gov/standards/alto/ns-v4#"
XHTML_NS = "http://www.w3.org/1999/xhtml"
CREATOR = "text_recognizer"


def render(prediction: Prediction, fmt: str, image_name: str = "image", created: datetime | None = None) -> str:
    """The page in format `fmt` (one of FORMATS); `image_name` is the image's file name the XML formats cite,
    `created` their time stamp (default: now, UTC)."""
    if fmt == "text":
        return prediction.text
    if fmt == "json":
        return json.dumps(as_json(prediction))
    writers = {"page": page_xml, "alto": alto_xml, "hocr": hocr}
    if fmt not in writers:
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
    return writers[fmt](prediction, image_name, created or datetime.now(timezone.utc))


def as_json(prediction: Prediction) -> dict[str, Any]:
    """The Prediction as JSON-ready values (tuples become lists)."""
    return json.loads(json.dumps(asdict(prediction)))


def _points(points: list[Point], separator: str = ",") -> str:
    return " ".join(f"{x}{separator}{y}" for x, y in points)


def _serialize(root: etree._Element, doctype: str | None = None) -> str:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True, doctype=doctype).decode("utf-8")


def _box_points(box: tuple[int, int, int, int]) -> list[Point]:
    x0, y0, x1, y1 = box
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


def _region_box(lines: list[LineResult]) -> tuple[int, int, int, int]:
    return (min(line.box[0] for line in lines), min(line.box[1] for line in lines),
            max(line.box[2] for line in lines), max(line.box[3] for line in lines))


def page_xml(prediction: Prediction, image_name: str, created: datetime) -> str:
    def element(parent: etree._Element, tag: str, **attributes: str) -> etree._Element:
        return etree.SubElement(parent, f"{{{PAGE_NS}}}{tag}", attributes)

    root = etree.Element(f"{{{PAGE_NS}}}PcGts", nsmap={None: PAGE_NS})
    metadata = element(root, "Metadata")
    stamp = created.isoformat(timespec="seconds")
    for tag, value in (("Creator", CREATOR), ("Created", stamp), ("LastChange", stamp)):
        element(metadata, tag).text = value
    width, height = prediction.image_size
    page = element(root, "Page", imageFilename=image_name, imageWidth=str(width), imageHeight=str(height))
    if prediction.lines:  # a page with no text has no region: a region must have coordinates
        region = element(page, "TextRegion", id="r1", type="paragraph")
        element(region, "Coords", points=_points(_box_points(_region_box(prediction.lines))))
        for n, line in enumerate(prediction.lines, 1):
            text_line = element(region, "TextLine", id=f"r1l{n}")
            element(text_line, "Coords", points=_points(line.polygon))
            element(text_line, "Baseline", points=_points(line.baseline))
            equiv = element(text_line, "TextEquiv", conf=f"{line.confidence:.4f}")
            element(equiv, "Unicode").text = line.text
        equiv = element(region, "TextEquiv", conf=f"{prediction.confidence:.4f}")
        element(equiv, "Unicode").text = prediction.text
    return _serialize(root)


def _alto_box(box: tuple[int, int, int, int]) -> dict[str, str]:
    x0, y0, x1, y1 = box
    return {"HPOS": str(x0), "VPOS": str(y0), "WIDTH": str(x1 - x0), "HEIGHT": str(y1 - y0)}


def alto_xml(prediction: Prediction, image_name: str, created: datetime) -> str:
    def element(parent: etree._Element, tag: str, **attributes: str) -> etree._Element:
        return etree.SubElement(parent, f"{{{ALTO_NS}}}{tag}", attributes)

    root = etree.Element(f"{{{ALTO_NS}}}alto", nsmap={None: ALTO_NS})
    description = element(root, "Description")
    element(description, "MeasurementUnit").text = "pixel"
    element(element(description, "sourceImageInformation"), "fileName").text = image_name
    processing = element(description, "Processing", ID="p1")
    element(processing, "processingDateTime").text = created.isoformat(timespec="seconds")
    element(element(processing, "processingSoftware"), "softwareName").text = CREATOR
    width, height = prediction.image_size
    page = element(element(root, "Layout"), "Page", ID="page1", PHYSICAL_IMG_NR="1", WIDTH=str(width), HEIGHT=str(height))
    space = element(page, "PrintSpace", **_alto_box((0, 0, width, height)))
    if prediction.lines:
        block = element(space, "TextBlock", ID="block1", **_alto_box(_region_box(prediction.lines)))
        for n, line in enumerate(prediction.lines, 1):
            text_line = element(block, "TextLine", ID=f"line{n}", BASELINE=_points(line.baseline), **_alto_box(line.box))
            element(element(text_line, "Shape"), "Polygon", POINTS=_points(line.polygon))
            element(text_line, "String", ID=f"line{n}_s1", CONTENT=line.text, WC=f"{line.confidence:.4f}",
                    **_alto_box(line.box))
    return _serialize(root)


def hocr(prediction: Prediction, image_name: str, created: datetime) -> str:
    def element(parent: etree._Element, tag: str, **attributes: str) -> etree._Element:
        return etree.SubElement(parent, f"{{{XHTML_NS}}}{tag}", attributes)

    root = etree.Element(f"{{{XHTML_NS}}}html", nsmap={None: XHTML_NS})
    root.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
    head = element(root, "head")
    element(head, "title").text = image_name
    element(head, "meta", **{"http-equiv": "Content-Type", "content": "text/html; charset=utf-8"})
    element(head, "meta", name="ocr-system", content=CREATOR)
    element(head, "meta", name="ocr-capabilities", content="ocr_page ocr_line")
    element(head, "meta", name="ocr-created", content=created.isoformat(timespec="seconds"))
    width, height = prediction.image_size
    quoted = image_name.replace("\\", "\\\\").replace('"', '\\"')  # hOCR properties quote strings with "
    page = element(element(root, "body"), "div", **{"class": "ocr_page", "id": "page_1",
                                                     "title": f'image "{quoted}"; bbox 0 0 {width} {height}'})
    for n, line in enumerate(prediction.lines, 1):
        x0, y0, x1, y1 = line.box
        (bx0, by0), (bx1, by1) = line.baseline
        slope = (by1 - by0) / (bx1 - bx0) if bx1 != bx0 else 0.0
        # hOCR's baseline: slope, and the offset of its left end from the box's bottom left corner
        offset = round(by0 + slope * (x0 - bx0)) - y1
        title = f"bbox {x0} {y0} {x1} {y1}; baseline {slope:.4f} {offset}; x_wconf {round(100 * line.confidence)}"
        element(page, "span", **{"class": "ocr_line", "id": f"line_1_{n}", "title": title}).text = line.text
    return _serialize(root, doctype='<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" '
                      '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">')
