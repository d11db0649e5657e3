"""Parsing untrusted XML: every XML file this project reads (IAM forms, users' PAGE and ALTO pages) goes here.

defusedxml refuses what the standard parser would do on a hostile file: entity declarations (the
"billion laughs" expansion bomb, external entities that read local files or URLs) and external
references. A refused or broken file is a ValueError that names it.
"""
from __future__ import annotations

from pathlib import Path
from xml.etree.ElementTree import Element, ParseError

import defusedxml
import defusedxml.ElementTree


class UnsafeXMLError(ValueError):
    """An XML file declares entities or refers to external resources, which are never expanded."""


def parse_xml(filename: str | Path) -> Element:
    """The root element of an XML file; UnsafeXMLError for hostile content, ValueError for broken XML."""
    try:
        # forbid_dtd stays False: a plain <!DOCTYPE> is harmless; the entities inside one are what is refused.
        tree = defusedxml.ElementTree.parse(str(filename), forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except defusedxml.DefusedXmlException as error:
        raise UnsafeXMLError(
            f"{filename} was refused: it declares XML entities or refers to external resources ({error}), which "
            "could expand without bound or read other files. Export the file again without a DTD or entities."
        ) from None
    except ParseError as error:
        raise ValueError(f"{filename} is not well-formed XML ({error})") from None
    root = tree.getroot()
    if root is None:  # pragma: no cover - ElementTree always has a root after a successful parse
        raise ValueError(f"{filename} has no root element")
    return root


def local_name(element: Element) -> str:
    """The tag without its namespace: '{http://...}TextLine' -> 'TextLine'.

    >>> local_name(Element('{http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15}TextLine'))
    'TextLine'
    """
    return element.tag.rsplit("}", 1)[-1] if isinstance(element.tag, str) else ""


def namespace(element: Element) -> str:
    """The namespace URI of the element's tag ('' when it has none)."""
    return element.tag[1:].split("}", 1)[0] if isinstance(element.tag, str) and element.tag.startswith("{") else ""
