"""What the OpenAPI document says beyond, or instead of, apispec's rendering.

The document is OpenAPI 3.0: the Swagger UI of ``/api/docs``
(``swagger-ui-bundle``) renders no 3.1 document.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import flask_smorest
from marshmallow import fields
from marshmallow import validate

from pilar.validation.storable import MAX_DEPTH

# Rules of every request body that no schema keyword states
# (pilar/validation/storable.py).
_DESCRIPTION = (
    "Request bodies are JSON objects. Nothing in them may be what PostgreSQL "
    "cannot store: no text (keys included) with NUL characters or unpaired "
    "surrogates, no NaN or infinite numbers, no nesting deeper than "
    f"{MAX_DEPTH} levels; else 422, naming where."
)

# OpenAPI 3.0.3's schema that only null matches: `nullable` adds null to the
# types that `type` names, and `enum` then leaves nothing else.
_NULL_ONLY = {"type": "object", "nullable": True, "enum": [None]}
_ANY_OBJECT_OR_NULL = {"type": "object", "nullable": True}


def duration(span: dt.timedelta) -> str:
    """Say ``span`` in its largest whole unit, e.g. "15 minutes", "1 hour".

    Descriptions state the numbers of the code through this, so that a
    changed constant changes the document too.
    """
    seconds = int(span.total_seconds())
    for unit, length in (("hour", 3600), ("minute", 60)):
        if seconds and seconds % length == 0:
            count = seconds // length
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{seconds} second{'' if seconds == 1 else 's'}"


def mebibytes(size: int) -> str:
    """Say a size in bytes in MiB, e.g. "1 MiB"; in bytes if not a whole number."""
    if size % 2**20:
        return f"{size:,} bytes"
    return f"{size // 2**20} MiB"


def init_spec(api: flask_smorest.Api) -> None:
    """Correct how ``api``'s document renders fields; before any blueprint."""
    api.spec.options.setdefault("info", {})["description"] = _DESCRIPTION
    converter = api.ma_plugin.converter
    converter.add_attribute_function(_nullable_nested)
    converter.add_attribute_function(_ecma_pattern)
    converter.add_attribute_function(_none_of)
    converter.add_parameter_attribute_function(_parameter_without_null)


def _nullable_nested(
    converter: Any,  # apispec's FieldConverterMixin, which is untyped
    field: fields.Field[Any],
    ret: dict[str, Any],
    **kwargs: Any,
) -> dict[str, Any]:
    """Render a nested schema that may be null as that schema or null.

    apispec renders it as ``anyOf [schema, {type: object, nullable: true}]``,
    whose second branch any object matches, so the document would accept
    whatever object is sent in its place.
    """
    if not (isinstance(field, fields.Nested) and field.allow_none and "anyOf" in ret):
        return {}
    return {
        "anyOf": [
            _NULL_ONLY if branch == _ANY_OBJECT_OR_NULL else branch
            for branch in ret["anyOf"]
        ]
    }


def _ecma_pattern(
    converter: Any,  # apispec's FieldConverterMixin, which is untyped
    field: fields.Field[Any],
    ret: dict[str, Any],
    **kwargs: Any,
) -> dict[str, Any]:
    """Render a pattern's Python end of text, ``\\Z``, as ECMA-262's ``$``.

    OpenAPI patterns are ECMA-262 regular expressions, where ``$`` is the end
    of the text; Python's ``$`` also matches before a final newline, so the
    validators say ``\\Z``, which ECMA-262 reads as a letter Z.
    """
    pattern = ret.get("pattern")
    if not (isinstance(pattern, str) and pattern.endswith("\\Z")):
        return {}
    return {"pattern": pattern.removesuffix("\\Z") + "$"}


def _none_of(
    converter: Any,  # apispec's FieldConverterMixin, which is untyped
    field: fields.Field[Any],
    ret: dict[str, Any],
    **kwargs: Any,
) -> dict[str, Any]:
    """Render the values a ``NoneOf`` validator refuses, which apispec leaves out."""
    refused = [
        value
        for validator in field.validators
        if isinstance(validator, validate.NoneOf)
        for value in validator.iterable
    ]
    return {"not": {"enum": refused}} if refused else {}


def _parameter_without_null(
    converter: Any,  # apispec's OpenAPIConverter, which is untyped
    field: fields.Field[Any],
    ret: dict[str, Any],
    **kwargs: Any,
) -> dict[str, Any]:
    """Render an optional query or path parameter without null.

    A field with ``load_default=None`` may be null, and apispec says so; but
    a query string has no null: such a parameter is simply left out.
    """
    schema = ret.get("schema")
    if not (isinstance(schema, dict) and schema.get("nullable")):
        return {}
    schema = {key: value for key, value in schema.items() if key != "nullable"}
    if schema.get("default", ...) is None:
        del schema["default"]
    if "enum" in schema:
        schema["enum"] = [value for value in schema["enum"] if value is not None]
    return {"schema": schema}
