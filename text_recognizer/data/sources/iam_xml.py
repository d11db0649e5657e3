"""One IAM form's XML -> its writer, line texts and line regions (in the stored image's pixels).

IAM's schema: <form id writer-id width height> holding <machine-printed-part> and <handwritten-part>,
whose <line text=...> elements hold <word> elements holding <cmp x y width height> boxes at full scan
resolution (the archive's JPGs are halved: DOWNSAMPLE_FACTOR). Parsed with defusedxml (safe_xml.py):
a form that declares entities is refused, naming the file.
"""
from __future__ import annotations

import warnings
from pathlib import Path

from PIL import Image

from text_recognizer.data.sources.safe_xml import UnsafeXMLError, parse_xml
from text_recognizer.metadata import iam as metadata

Region = dict[str, int]


def parse_form_xml(filename: Path, forms_dirname: Path) -> dict | None:
    """One form's id, writer, line texts and line regions (stored-image pixels), or None if unusable."""
    try:
        root = parse_xml(filename)  # defusedxml: entities and external references are refused
        form_id, writer_id = root.attrib["id"], root.attrib.get("writer-id", "")
        lines = root.findall("handwritten-part/line")
    except UnsafeXMLError:
        raise
    except (ValueError, KeyError) as error:
        raise ValueError(f"{filename} is not a valid IAM form XML ({error!r}); delete the tree to fetch it again") from error
    image_filename = forms_dirname / f"{form_id}.jpg"
    if not image_filename.is_file():
        warnings.warn(f"{filename}: no image {image_filename}; form skipped", stacklevel=2)
        return None
    with Image.open(image_filename) as image:  # reads the header only
        width, height = image.size
    strings, regions = [], []
    for line in lines:
        boxes = line.findall(".//cmp")
        if not boxes:
            warnings.warn(f"{filename}: line {line.attrib.get('id')} has no cmp box; line skipped", stacklevel=2)
            continue
        try:
            box_coords = [[int(box.attrib[key]) for key in ("x", "y", "width", "height")] for box in boxes]
            text = line.attrib["text"]
        except (KeyError, ValueError) as error:
            raise ValueError(f"{filename}: line {line.attrib.get('id')} is malformed ({error!r})") from error
        # ElementTree decodes &quot;; some files escape it twice, leaving a literal "&quot;".
        strings.append(text.replace("&quot;", '"'))
        regions.append(line_region(box_coords, width, height))
    if not strings:
        warnings.warn(f"{filename}: no handwritten line with cmp boxes; form skipped", stacklevel=2)
        return None
    return {"id": form_id, "writer_id": writer_id, "line_strings": strings, "line_regions": regions}


def line_region(boxes: list[list[int]], width: int, height: int,
                factor: int = metadata.DOWNSAMPLE_FACTOR, padding: int = metadata.LINE_REGION_PADDING) -> Region:
    """Union of (x, y, w, h) boxes at scan resolution -> padded region in stored-image pixels.

    >>> line_region([[100, 40, 50, 20], [170, 30, 30, 20]], width=1000, height=1000)
    {'x1': 34, 'y1': 0, 'x2': 116, 'y2': 46}
    """
    x1 = min(x for x, _, _, _ in boxes) // factor - padding
    y1 = min(y for _, y, _, _ in boxes) // factor - padding
    x2 = max(x + w for x, _, w, _ in boxes) // factor + padding
    y2 = max(y + h for _, y, _, h in boxes) // factor + padding
    return {"x1": max(x1, 0), "y1": max(y1, 0), "x2": min(x2, width), "y2": min(y2, height)}


def union_of_regions(regions: list[Region]) -> Region:
    return {
        "x1": min(r["x1"] for r in regions), "y1": min(r["y1"] for r in regions),
        "x2": max(r["x2"] for r in regions), "y2": max(r["y2"] for r in regions),
    }
