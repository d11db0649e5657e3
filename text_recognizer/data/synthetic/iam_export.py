"""Write IAM-format forms (the real archive or the offline source) as the folders HandwritingFolder reads.

    python -m text_recognizer.data.synthetic.iam_export --iam_source=rendered --iam_rendered_forms=8 \\
        --iam_rendered_writers=2 --layout=page --output=data/my_page_folder

The forms' line regions (the union of each line's word boxes, padded: what IAMLines crops) become PAGE
TextLine polygons or ALTO TextLine boxes, in one region per form; `image_txt` writes each form's
paragraph crop (what IAMParagraphs cuts, before halving) as a PNG beside its .txt. The tests use this
to make the three kinds of folders from the same forms, and the notebook to make a small PAGE archive.
"""
from __future__ import annotations

import argparse
import shutil
import xml.etree.ElementTree as ElementTree  # writing only: parsing goes through safe_xml
from pathlib import Path

from PIL import Image

from text_recognizer.data.sources.iam import IAM
from text_recognizer.data.sources.iam_xml import Region
from text_recognizer.metadata.shared import shown_path

LAYOUTS = ("page", "page2013", "alto", "image_txt")
PAGE_NAMESPACES = {
    "page": "http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15",
    "page2013": "http://schema.primaresearch.org/PAGE/gts/pagecontent/2013-07-15",
}
ALTO_NAMESPACE = "http://www.loc.gov/standards/alto/ns-v4#"


def _box(region: Region) -> tuple[int, int, int, int]:
    return region["x1"], region["y1"], region["x2"], region["y2"]


def page_xml(image_name: str, size: tuple[int, int], lines: list[tuple[Region, str]], namespace: str) -> str:
    """One PAGE document: a TextRegion holding a TextLine per line, its polygon the line's rectangle."""
    ns = f"{{{namespace}}}"
    ElementTree.register_namespace("", namespace)
    root = ElementTree.Element(f"{ns}PcGts")
    page = ElementTree.SubElement(root, f"{ns}Page", {"imageFilename": image_name, "imageWidth": str(size[0]),
                                                     "imageHeight": str(size[1])})
    order = ElementTree.SubElement(ElementTree.SubElement(page, f"{ns}ReadingOrder"), f"{ns}OrderedGroup", {"id": "ro"})
    ElementTree.SubElement(order, f"{ns}RegionRefIndexed", {"index": "0", "regionRef": "r0"})
    region = ElementTree.SubElement(page, f"{ns}TextRegion", {"id": "r0"})
    for number, (line_region, text) in enumerate(lines):
        x1, y1, x2, y2 = _box(line_region)
        line = ElementTree.SubElement(region, f"{ns}TextLine", {"id": f"r0l{number}"})
        points = f"{x1},{y1} {x2 - 1},{y1} {x2 - 1},{y2 - 1} {x1},{y2 - 1}"  # inclusive corners
        ElementTree.SubElement(line, f"{ns}Coords", {"points": points})
        ElementTree.SubElement(ElementTree.SubElement(line, f"{ns}TextEquiv"), f"{ns}Unicode").text = text
    ElementTree.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(root, encoding="unicode") + "\n"


def alto_xml(image_name: str, size: tuple[int, int], lines: list[tuple[Region, str]]) -> str:
    """One ALTO v4 document: a TextBlock holding a TextLine (HPOS, VPOS, WIDTH, HEIGHT) of Strings per line."""
    ns = f"{{{ALTO_NAMESPACE}}}"
    ElementTree.register_namespace("", ALTO_NAMESPACE)
    root = ElementTree.Element(f"{ns}alto")
    description = ElementTree.SubElement(root, f"{ns}Description")
    ElementTree.SubElement(description, f"{ns}MeasurementUnit").text = "pixel"
    info = ElementTree.SubElement(description, f"{ns}sourceImageInformation")
    ElementTree.SubElement(info, f"{ns}fileName").text = image_name
    page = ElementTree.SubElement(ElementTree.SubElement(root, f"{ns}Layout"), f"{ns}Page",
                                  {"ID": "p0", "WIDTH": str(size[0]), "HEIGHT": str(size[1]), "PHYSICAL_IMG_NR": "1"})
    block = ElementTree.SubElement(ElementTree.SubElement(page, f"{ns}PrintSpace"), f"{ns}TextBlock", {"ID": "b0"})
    for number, (line_region, text) in enumerate(lines):
        x1, y1, x2, y2 = _box(line_region)
        line = ElementTree.SubElement(block, f"{ns}TextLine", {"ID": f"b0l{number}", "HPOS": str(x1), "VPOS": str(y1),
                                                               "WIDTH": str(x2 - x1), "HEIGHT": str(y2 - y1)})
        for index, word in enumerate(text.split(" ")):
            if index:
                ElementTree.SubElement(line, f"{ns}SP")
            ElementTree.SubElement(line, f"{ns}String", {"CONTENT": word})
    ElementTree.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(root, encoding="unicode") + "\n"


def export_forms(iam: IAM, form_ids: list[str], output: Path, layout: str) -> Path:
    """Write the forms into `output` in the given layout; returns `output`."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}: choose one of {LAYOUTS}")
    output.mkdir(parents=True, exist_ok=True)
    iam.load()
    for form_id in form_ids:
        image_filename = iam.form_filenames_by_id[form_id]
        lines = list(zip(iam.line_regions_by_id[form_id], iam.line_strings_by_id[form_id], strict=True))
        if layout == "image_txt":
            with Image.open(image_filename) as image:
                image.convert("L").crop(_box(iam.paragraph_region_by_id[form_id])).save(output / f"{form_id}.png")
            (output / f"{form_id}.txt").write_text(iam.paragraph_string_by_id[form_id] + "\n", encoding="utf-8")
            continue
        shutil.copyfile(image_filename, output / image_filename.name)
        with Image.open(image_filename) as image:
            size = image.size
        text = alto_xml(image_filename.name, size, lines) if layout == "alto" else \
            page_xml(image_filename.name, size, lines, PAGE_NAMESPACES[layout])
        (output / f"{form_id}.xml").write_text(text, encoding="utf-8")
    return output


def main(argv: list[str] | None = None) -> None:
    parser = IAM.add_to_argparse(argparse.ArgumentParser(description=__doc__.split("\n\n")[0]))
    parser.add_argument("--layout", choices=LAYOUTS, default="page")
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--forms", type=int, default=None, help="export only the first N forms")
    args = parser.parse_args(argv)
    iam = IAM.from_args(args).load()
    ids = iam.all_ids[: args.forms] if args.forms else iam.all_ids
    print(f"Wrote {len(ids)} forms as {args.layout} into {shown_path(export_forms(iam, ids, args.output, args.layout))}")


if __name__ == "__main__":
    main()
