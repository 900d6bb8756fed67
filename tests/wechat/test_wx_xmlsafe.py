"""Untrusted XML is parsed flat and every dangerous construct is refused before expansion."""

import pytest

from wechat.xmlsafe import (
    XmlForbidden,
    XmlMalformed,
    XmlTooLarge,
    build_xml,
    parse_flat_xml,
)

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<xml><return_code>&xxe;</return_code></xml>"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE xml [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<xml><a>&lol3;</a></xml>"""


def test_cdata_and_plain_values_become_strings():
    xml = b"<xml><a><![CDATA[x<y]]></a><b>10</b><c></c></xml>"
    assert parse_flat_xml(xml) == {"a": "x<y", "b": "10", "c": ""}


def test_build_xml_round_trips_awkward_values():
    fields = {"body": "a]]>b & <c>", "total_fee": 1, "empty": ""}
    xml = build_xml(fields)
    assert xml.startswith("<xml><body><![CDATA[")
    assert parse_flat_xml(xml) == {"body": "a]]>b & <c>", "total_fee": "1", "empty": ""}


def test_build_xml_refuses_bad_element_names():
    with pytest.raises(ValueError):
        build_xml({"a b": "x"})


def test_external_entity_is_refused():
    with pytest.raises(XmlForbidden):
        parse_flat_xml(XXE)


def test_entity_expansion_is_refused():
    with pytest.raises(XmlForbidden):
        parse_flat_xml(BILLION_LAUGHS)


def test_oversize_document_is_refused_before_parsing():
    with pytest.raises(XmlTooLarge):
        parse_flat_xml(b"<xml><a>" + b"x" * 2000 + b"</a></xml>", max_bytes=1000)


@pytest.mark.parametrize(
    "xml",
    [
        b"<xml><a>1</a>",
        b"<root><a>1</a></root>",
        b"<xml><a><b>1</b></a></xml>",
        b"<xml><a>1</a><a>2</a></xml>",
        b"",
    ],
)
def test_malformed_or_unexpected_shapes_are_refused(xml):
    with pytest.raises(XmlMalformed):
        parse_flat_xml(xml)
