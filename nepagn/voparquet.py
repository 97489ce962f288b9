"""VOParquet: column units, UCDs and descriptions carried in Parquet key-value metadata.

Follows the IVOA VOParquet note (1.0): a VOTable header (FIELDs, no DATA) in
`IVOA.VOTable-Parquet.content`, which TOPCAT and astropy's `parquet.votable` reader understand.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pyarrow as pa

VERSION_KEY = b"IVOA.VOTable-Parquet.version"
CONTENT_KEY = b"IVOA.VOTable-Parquet.content"
_NS = "http://www.ivoa.net/xml/VOTable/v1.3"

_DATATYPES = {
    pa.float64(): "double",
    pa.float32(): "float",
    pa.int64(): "long",
    pa.int32(): "int",
    pa.int16(): "short",
    pa.int8(): "short",
    pa.uint8(): "unsignedByte",
    pa.bool_(): "boolean",
}


def _votable_datatype(arrow_type: pa.DataType) -> tuple[str, str | None]:
    """VOTable datatype and arraysize of an Arrow type (strings as char arraysize='*')."""
    if arrow_type in _DATATYPES:
        return _DATATYPES[arrow_type], None
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type) or pa.types.is_string_view(arrow_type):
        return "char", "*"
    return "char", "*"


def votable_header(schema: pa.Schema, column_meta: dict[str, dict[str, str]] | None) -> bytes:
    """The VOTable XML header describing `schema`'s fields with units, UCDs and descriptions."""
    column_meta = column_meta or {}
    ET.register_namespace("", _NS)
    root = ET.Element(f"{{{_NS}}}VOTABLE", version="1.3")
    table = ET.SubElement(ET.SubElement(root, f"{{{_NS}}}RESOURCE"), f"{{{_NS}}}TABLE")
    for field in schema:
        datatype, arraysize = _votable_datatype(field.type)
        attrs = {"name": field.name, "datatype": datatype}
        if arraysize:
            attrs["arraysize"] = arraysize
        meta = column_meta.get(field.name, {})
        for key in ("unit", "ucd"):
            if meta.get(key):
                attrs[key] = meta[key]
        element = ET.SubElement(table, f"{{{_NS}}}FIELD", attrs)
        if meta.get("description"):
            ET.SubElement(element, f"{{{_NS}}}DESCRIPTION").text = meta["description"]
    ET.SubElement(table, f"{{{_NS}}}PARQUET", type="Parquet-local-XML")
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def with_voparquet_metadata(schema: pa.Schema, column_meta: dict[str, dict[str, str]] | None) -> pa.Schema:
    """`schema` with the VOParquet key-value metadata added (other metadata kept)."""
    metadata = dict(schema.metadata or {})
    metadata[VERSION_KEY] = b"1.0"
    metadata[CONTENT_KEY] = votable_header(schema, column_meta)
    return schema.with_metadata(metadata)


def read_column_meta(schema: pa.Schema) -> dict[str, dict[str, str]]:
    """Per-column unit/UCD/description read back from a schema's VOParquet metadata ({} if none)."""
    content = (schema.metadata or {}).get(CONTENT_KEY)
    if not content:
        return {}
    meta: dict[str, dict[str, str]] = {}
    for field in ET.fromstring(content).iter(f"{{{_NS}}}FIELD"):
        entry = {key: field.get(key) for key in ("unit", "ucd") if field.get(key)}
        description = field.find(f"{{{_NS}}}DESCRIPTION")
        if description is not None and description.text:
            entry["description"] = description.text
        meta[field.get("name")] = entry
    return meta
