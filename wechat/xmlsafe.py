"""Untrusted XML in, flat dicts out; flat dicts in, WeChat-style XML out.

WeChat v2 messages are one root element whose children are text leaves
(``<xml><return_code><![CDATA[SUCCESS]]></return_code>...</xml>``). Parsing goes through
defusedxml with DTDs, entity declarations and external references all forbidden, after a size
cap, so XXE and entity-expansion ("billion laughs") payloads are refused before any expansion.
Anything that is not exactly that flat shape is refused too: a nested element, a repeated tag
or a different root never silently becomes a value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException  # type: ignore[import-untyped]
from defusedxml.ElementTree import fromstring  # type: ignore[import-untyped]

MAX_XML_BYTES = 64 * 1024
_TAG = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class XmlRejected(ValueError):
    """Base of every refusal by this module."""


class XmlTooLarge(XmlRejected):
    pass


class XmlForbidden(XmlRejected):
    """DTD, entity declaration or external reference present."""


class XmlMalformed(XmlRejected):
    """Not well-formed, wrong root, nested or repeated elements."""


def parse_flat_xml(
    data: bytes | str, *, root: str = "xml", max_bytes: int = MAX_XML_BYTES
) -> dict[str, str]:
    """Parse ``<root><k>v</k>...</root>`` into ``{k: v}``; empty elements map to ``""``."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if len(raw) > max_bytes:
        raise XmlTooLarge(f"{len(raw)} bytes > {max_bytes}")
    try:
        element = fromstring(raw, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise XmlForbidden(type(exc).__name__) from exc
    except ParseError as exc:
        raise XmlMalformed(str(exc)) from exc
    if element.tag != root:
        raise XmlMalformed(f"root is <{element.tag}>, expected <{root}>")
    fields: dict[str, str] = {}
    for child in element:
        if len(child):
            raise XmlMalformed(f"<{child.tag}> is nested")
        if child.tag in fields:
            raise XmlMalformed(f"<{child.tag}> is repeated")
        fields[child.tag] = child.text or ""
    return fields


def _cdata(value: str) -> str:
    # "]]>" cannot appear inside a CDATA section: close it and reopen around the ">".
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def build_xml(fields: Mapping[str, str | int], *, root: str = "xml") -> str:
    """Serialise ``fields`` as WeChat does: one element per key, every value in CDATA,
    keys sorted for stable output. ``None`` is not accepted: drop optional keys first."""
    parts = [f"<{root}>"]
    for key in sorted(fields):
        if not _TAG.match(key):
            raise ValueError(f"not a valid element name: {key!r}")
        parts.append(f"<{key}>{_cdata(str(fields[key]))}</{key}>")
    parts.append(f"</{root}>")
    return "".join(parts)
