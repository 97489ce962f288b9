"""VOParquet: column units, UCDs and descriptions carried in Parquet key-value metadata.

Follows the IVOA VOParquet note (1.0): a VOTable header (FIELDs, no DATA) in
`IVOA.VOTable-Parquet.content`, which TOPCAT and astropy's `parquet.votable` reader understand.

astropy's Parquet reader (`Table.read(path)`, also the data half of `format="parquet.votable"`)
needs two more things, which astropy's own writer stores: the width of every text column in
`table::len::<name>` (without it, a text column holding a null fails with "TypeError: object of type
'NoneType' has no len()"), and units and descriptions in `table_meta_yaml`. Both are written too.
astropy has no null text: a null text cell reads there as the string "None" (the width is at
least 4 so it reads whole); pandas, pyarrow and TOPCAT see the null.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pyarrow as pa
import pyarrow.compute as pc

VERSION_KEY = b"IVOA.VOTable-Parquet.version"
CONTENT_KEY = b"IVOA.VOTable-Parquet.content"
ASTROPY_META_KEY = b"table_meta_yaml"
ASTROPY_LEN_PREFIX = "table::len::"
ASTROPY_MIN_TEXT_WIDTH = 4  # len("None"): what astropy makes of a null text cell
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


def _votable_datatype(arrow_type: pa.DataType) -> str:
    """VOTable datatype of an Arrow type; anything not numeric or boolean is text (char)."""
    return _DATATYPES.get(arrow_type, "char")


def string_lengths(table: pa.Table) -> dict[str, int]:
    """Longest value (at least 1) of each string column: the N of VOTable arraysize='N*'."""
    lengths = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            longest = pc.max(pc.utf8_length(column)).as_py() if len(column) else None
            lengths[name] = max(1, longest or 0)
    return lengths


def votable_header(
    schema: pa.Schema, column_meta: dict[str, dict[str, str]] | None, lengths: dict[str, int] | None = None
) -> bytes:
    """The VOTable XML header describing `schema`'s fields with units, UCDs and descriptions.

    Text fields get arraysize 'N*' where `lengths` gives N (astropy's reader needs it), else '*'.
    """
    column_meta, lengths = column_meta or {}, lengths or {}
    ET.register_namespace("", _NS)
    root = ET.Element(f"{{{_NS}}}VOTABLE", version="1.3")
    table = ET.SubElement(ET.SubElement(root, f"{{{_NS}}}RESOURCE"), f"{{{_NS}}}TABLE")
    for field in schema:
        attrs = {"name": field.name, "datatype": _votable_datatype(field.type)}
        if attrs["datatype"] == "char":
            attrs["arraysize"] = f"{lengths[field.name]}*" if field.name in lengths else "*"
        meta = column_meta.get(field.name, {})
        for key in ("unit", "ucd"):
            if meta.get(key):
                attrs[key] = meta[key]
        element = ET.SubElement(table, f"{{{_NS}}}FIELD", attrs)
        if meta.get("description"):
            ET.SubElement(element, f"{{{_NS}}}DESCRIPTION").text = meta["description"]
    ET.SubElement(table, f"{{{_NS}}}PARQUET", type="Parquet-local-XML")
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _astropy_datatype(arrow_type: pa.DataType) -> str:
    if pa.types.is_boolean(arrow_type):
        return "bool"
    if pa.types.is_floating(arrow_type) or pa.types.is_integer(arrow_type):
        return str(arrow_type.to_pandas_dtype().__name__)
    return "string"


def astropy_metadata(
    schema: pa.Schema, column_meta: dict[str, dict[str, str]] | None, lengths: dict[str, int] | None = None
) -> dict[bytes, bytes]:
    """The key-value metadata astropy's Parquet reader uses: text widths and column units/descriptions.

    `table_meta_yaml` is written as JSON, which is valid YAML and needs no YAML library here.
    """
    column_meta, lengths = column_meta or {}, lengths or {}
    datatype = []
    for field in schema:
        entry = {"name": field.name, "datatype": _astropy_datatype(field.type)}
        meta = column_meta.get(field.name, {})
        for key in ("unit", "description"):
            if meta.get(key):
                entry[key] = meta[key]
        datatype.append(entry)
    metadata = {ASTROPY_META_KEY: json.dumps({"datatype": datatype}, ensure_ascii=True).encode()}
    for name, length in lengths.items():
        metadata[f"{ASTROPY_LEN_PREFIX}{name}".encode()] = str(max(ASTROPY_MIN_TEXT_WIDTH, length)).encode()
    return metadata


def with_voparquet_metadata(
    schema: pa.Schema, column_meta: dict[str, dict[str, str]] | None, lengths: dict[str, int] | None = None
) -> pa.Schema:
    """`schema` with the VOParquet key-value metadata (and astropy's) added; other metadata kept.

    `lengths` (the longest value of each text column) gives VOTable arraysize and astropy's widths;
    without it astropy's reader measures the text itself.
    """
    metadata = dict(schema.metadata or {})
    metadata[VERSION_KEY] = b"1.0"
    metadata[CONTENT_KEY] = votable_header(schema, column_meta, lengths)
    metadata.update(astropy_metadata(schema, column_meta, lengths))
    return schema.with_metadata(metadata)


def read_column_meta(schema: pa.Schema) -> dict[str, dict[str, str]]:
    """Per-column unit/UCD/description read back from a schema's VOParquet metadata ({} if none)."""
    content = (schema.metadata or {}).get(CONTENT_KEY)
    if not content:
        return {}
    meta: dict[str, dict[str, str]] = {}
    for field in ET.fromstring(content).iter(f"{{{_NS}}}FIELD"):
        entry = {key: value for key in ("unit", "ucd") if (value := field.get(key))}
        description = field.find(f"{{{_NS}}}DESCRIPTION")
        if description is not None and description.text:
            entry["description"] = description.text
        name = field.get("name")
        if name is None:  # VOTable requires a FIELD's name (votable_header always writes one): no column to describe
            continue
        meta[name] = entry
    return meta
