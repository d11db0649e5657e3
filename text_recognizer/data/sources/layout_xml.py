"""PAGE XML (2013 and 2019 schemas) and ALTO (v4, and v2/v3 which share its layout) -> regions of text lines.

What eScriptorium, Transkribus and kraken export: one XML per page image, text regions (PAGE
`TextRegion`, ALTO `TextBlock`) holding text lines with their outline and their transcription.
`read_layout(xml_filename)` returns the page image's path and its regions in reading order, each a
list of lines with an integer box (x1, y1, x2, y2) in the page image's pixels, clipped to the image.
Lines without coordinates or text are skipped, and boxes outside the image clipped, with a warning
naming the line; a page whose image is missing is a LayoutError naming both files.
"""
from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree.ElementTree import Element

from PIL import Image

from text_recognizer.data.sources.safe_xml import local_name, namespace, parse_xml

PAGE_NAMESPACE_PREFIX = "http://schema.primaresearch.org/PAGE/gts/pagecontent/"
ALTO_NAMESPACE_PREFIX = "http://www.loc.gov/standards/alto/"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
Box = tuple[int, int, int, int]  # (x1, y1, x2, y2), x2 and y2 exclusive


class LayoutError(ValueError):
    """A layout file that cannot be used (wrong schema, missing image, unsupported units)."""


@dataclass
class Line:
    id: str
    box: Box
    text: str


@dataclass
class Region:
    id: str
    lines: list[Line] = field(default_factory=list)


@dataclass
class Layout:
    xml_filename: Path
    image_filename: Path
    regions: list[Region]


def layout_kind(root: Element) -> str | None:
    """'page', 'alto' or None (another XML) from the root element."""
    if local_name(root) == "PcGts" and namespace(root).startswith(PAGE_NAMESPACE_PREFIX):
        return "page"
    if local_name(root) == "alto" and (namespace(root).startswith(ALTO_NAMESPACE_PREFIX) or not namespace(root)):
        return "alto"
    return None


def read_layout(xml_filename: str | Path, within: str | Path | None = None) -> Layout | None:
    """The page's regions of lines, or None when the XML is neither PAGE nor ALTO. `within`: the folder the
    page image must lie in (after following links); None: anywhere, as the XML says."""
    xml_filename = Path(xml_filename)
    root = parse_xml(xml_filename)
    kind = layout_kind(root)
    if kind is None:
        return None
    try:
        image_name, raw_regions, unit = _page(root) if kind == "page" else _alto(root)
    except (ValueError, OverflowError) as error:  # a number that is none (index="abc"), a coordinate of 10**400
        raise LayoutError(f"{xml_filename}: {error}") from None
    image_filename = find_image(xml_filename, image_name, within)
    try:
        with Image.open(image_filename) as image:  # the header only
            width, height = image.size
    except (OSError, Image.DecompressionBombError) as error:
        raise LayoutError(f"{xml_filename}: its page image {image_filename} cannot be read as an image ({error})") from None
    if unit != "pixel":
        raise LayoutError(f"{xml_filename}: ALTO MeasurementUnit {unit!r} is not supported; export with pixel coordinates")
    regions = []
    for region_id, lines in raw_regions:
        region = Region(region_id)
        for line_id, points, text in lines:
            where = f"{xml_filename}: line {line_id!r}"
            if not points:
                warnings.warn(f"{where} has no coordinates; line skipped", stacklevel=2)
                continue
            if not text.strip():
                warnings.warn(f"{where} has no text; line skipped", stacklevel=2)
                continue
            box = _clipped_box(points, width, height, where)
            if box is not None:
                region.lines.append(Line(line_id, box, text.strip()))
        if region.lines:
            regions.append(region)
    return Layout(xml_filename, image_filename, regions)


def find_image(xml_filename: Path, image_name: str, within: str | Path | None = None) -> Path:
    """The page image named by the XML, looked for beside it (also under its own base name, and with
    the XML's name and any image suffix: exports often rename one of the two). With `within`, only an
    image inside that folder (links followed) is taken: an XML naming /etc/passwd or ../../elsewhere.png
    is refused, never read."""
    folder = xml_filename.parent
    candidates = []
    if image_name:
        candidates += [folder / image_name, folder / Path(image_name.replace("\\", "/")).name]
    candidates += [xml_filename.with_suffix(suffix) for suffix in IMAGE_SUFFIXES]
    outside = None
    for candidate in candidates:
        if candidate.is_file():
            if within is None or candidate.resolve().is_relative_to(Path(within).resolve()):
                return candidate
            outside = outside or candidate
    if outside is not None:
        raise LayoutError(f"{xml_filename} names the page image {image_name!r}, which is {outside.resolve()}, outside "
                          f"{within}: put the page image inside the data folder (or allow files outside it explicitly)")
    raise LayoutError(f"{xml_filename} names the page image {image_name!r}, but there is no {folder / (image_name or '?')} "
                      f"(nor an image named like the XML): put the page image beside the XML")


def _clipped_box(points: list[tuple[float, float]], width: int, height: int, where: str) -> Box | None:
    if not all(math.isfinite(x) and math.isfinite(y) for x, y in points):
        raise LayoutError(f"{where} has a coordinate that is not a finite number: fix its Coords")
    xs, ys = [x for x, _ in points], [y for _, y in points]
    x1, y1, x2, y2 = int(min(xs)), int(min(ys)), int(round(max(xs))) + 1, int(round(max(ys))) + 1
    clipped = max(x1, 0), max(y1, 0), min(x2, width), min(y2, height)
    if clipped != (x1, y1, x2, y2):
        warnings.warn(f"{where}: coordinates ({x1}, {y1})-({x2}, {y2}) lie outside the {width}x{height} image; clipped",
                      stacklevel=3)
    if clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
        warnings.warn(f"{where} lies entirely outside the image; line skipped", stacklevel=3)
        return None
    return clipped


def _children(element: Element, name: str) -> list[Element]:
    return [child for child in element if local_name(child) == name]


def _descendants(element: Element, name: str) -> list[Element]:
    return [child for child in element.iter() if local_name(child) == name]


RawLine = tuple[str, list[tuple[float, float]], str]  # (id, outline points, text)
RawRegion = tuple[str, list[RawLine]]
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def _points(text: str) -> list[tuple[float, float]]:
    """'x1,y1 x2,y2 ...' (PAGE) or 'x1 y1 x2 y2 ...' (ALTO) -> [(x, y), ...]."""
    numbers = [float(n) for n in _NUMBER.findall(text or "")]
    return list(zip(numbers[::2], numbers[1::2], strict=False))


def _page(root: Element) -> tuple[str, list[RawRegion], str]:
    page = next(iter(_descendants(root, "Page")), None)
    if page is None:
        raise LayoutError("a PAGE file without a <Page> element")
    regions = {r.get("id", f"r{i}"): r for i, r in enumerate(_descendants(page, "TextRegion"))}
    raw = [(region_id, [_page_line(line) for line in _children(region, "TextLine")])
           for region_id, region in regions.items()]
    order = _page_reading_order(page)
    if order:  # regions named in the ReadingOrder first, in its order; the rest in document order
        rank = {region_id: index for index, region_id in enumerate(order)}
        raw.sort(key=lambda item: rank.get(item[0], len(rank)))
    return page.get("imageFilename", ""), raw, "pixel"


def _page_reading_order(page: Element) -> list[str]:
    refs = _descendants(page, "RegionRefIndexed") or _descendants(page, "RegionRef")
    refs = sorted(refs, key=lambda ref: _index(ref, "RegionRefIndexed"))
    return [ref.get("regionRef", "") for ref in refs]


def _index(element: Element, what: str) -> int:
    value = element.get("index", "0")
    if not value.strip().lstrip("-").isdigit():
        raise LayoutError(f"a {what} has index={value[:40]!r}, not an integer")
    return int(value)


def _page_line(line: Element) -> RawLine:
    coords = next(iter(_children(line, "Coords")), None)
    points: list[tuple[float, float]] = []
    if coords is not None:
        points = _points(coords.get("points", "")) or [
            (float(p.get("x", 0)), float(p.get("y", 0))) for p in _children(coords, "Point")  # the 2010 style
        ]
    equivs = sorted(_children(line, "TextEquiv"), key=lambda e: _index(e, "TextEquiv"))
    unicode = next((u for e in equivs for u in _children(e, "Unicode")), None)
    return line.get("id", ""), points, (unicode.text or "") if unicode is not None else ""


def _alto(root: Element) -> tuple[str, list[RawRegion], str]:
    unit = next((e.text or "" for e in _descendants(root, "MeasurementUnit")), "pixel").strip() or "pixel"
    image = next((e.text or "" for e in _descendants(root, "fileName")), "").strip()
    raw = [(block.get("ID", f"b{i}"), [_alto_line(line) for line in _children(block, "TextLine")])
           for i, block in enumerate(_descendants(root, "TextBlock"))]
    return image, raw, unit


def _alto_line(line: Element) -> RawLine:
    polygon = next(iter(_descendants(line, "Polygon")), None)
    points = _points(polygon.get("POINTS", "")) if polygon is not None else []
    if not points and all(line.get(key) is not None for key in ("HPOS", "VPOS", "WIDTH", "HEIGHT")):
        x, y = float(line.get("HPOS", 0)), float(line.get("VPOS", 0))
        w, h = float(line.get("WIDTH", 0)), float(line.get("HEIGHT", 0))
        points = [(x, y), (x + w - 1, y + h - 1)]
    words = []
    for element in line:
        if local_name(element) == "String":
            words.append(element.get("CONTENT", ""))
        elif local_name(element) == "HYP" and words:
            words[-1] += element.get("CONTENT", "-")
    return line.get("ID", ""), points, " ".join(word for word in words if word)
