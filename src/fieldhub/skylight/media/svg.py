"""SVG is untrusted input: annotations that could run script or fetch anything are refused.

An annotation is stored as text and returned inside JSON, but clients draw it, often by putting
it into a page or a WebView.  So markup must be plain drawing: well-formed XML without a DTD or
entities (billion laughs, external entities), without script-capable elements, without event
handler attributes and without links that leave the document.  Refusing (400) rather than
silently stripping keeps what is stored exactly what the client sent.  A value without markup
(e.g. bare path data such as ``M 10 10 L 20 20``) is stored as it is.
"""

from __future__ import annotations

import re
from xml.etree.ElementTree import Element  # only the type: parsing goes through defusedxml

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring

#: Elements that run script, embed other documents or change behaviour on events.
_FORBIDDEN_ELEMENTS = frozenset(
    {"script", "foreignobject", "iframe", "embed", "object", "handler", "listener", "style", "set", "animate"}
)
#: Link attributes may only point inside the document (``#id``).
_LINK_ATTRIBUTES = frozenset({"href", "src", "action", "formaction"})
#: Script URLs, inline documents, and ``url(...)`` references other than to ``#id`` in the drawing.
_DANGEROUS_VALUE = re.compile(r"(java|vb)script\s*:|data\s*:|url\s*\(\s*(?!['\"]?#)", re.IGNORECASE)

#: The headers every served SVG (and every media content response) carries: no script, no
#: plugins, no loads, and no sniffing the bytes into something else.
SAFE_CONTENT_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox",
    "X-Content-Type-Options": "nosniff",
}


def _local(name: str) -> str:
    """``{namespace}tag`` or ``prefix:tag`` -> ``tag``, lower-cased."""
    return name.rsplit("}", 1)[-1].rsplit(":", 1)[-1].lower()


def svg_problem(text: str) -> str | None:
    """Why ``text`` is not a safe SVG drawing, or None when it is."""
    try:
        root = fromstring(text, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        return "must not contain a DTD or entity declarations"
    except ParseError as exc:
        return f"must be well-formed SVG markup ({exc})"
    element: Element
    for element in root.iter():
        tag = _local(element.tag) if isinstance(element.tag, str) else ""
        if tag in _FORBIDDEN_ELEMENTS:
            return f"must not contain <{tag}> elements"
        for attribute, value in element.attrib.items():
            name = _local(attribute)
            if name.startswith("on"):
                return f"must not contain event handler attributes ({name})"
            if name in _LINK_ATTRIBUTES and not value.strip().startswith("#"):
                return f"links ({name}) may only point inside the drawing ('#id')"
            if _DANGEROUS_VALUE.search(value):
                return f"attribute {name} must not contain script, data: or external url() values"
    return None


def check_annotation_svg(value: str) -> str:
    """Pydantic validator: markup must be a safe drawing; text without markup passes as is."""
    if "<" not in value and "&" not in value:
        return value
    problem = svg_problem(value)
    if problem:
        raise ValueError(problem)
    return value
