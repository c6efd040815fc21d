"""The base of every schema: how a dump reads its object."""

from __future__ import annotations

from typing import Any

import marshmallow as ma


class Schema(ma.Schema):
    """A marshmallow schema that reads objects and rows by attribute.

    marshmallow tries ``obj[name]`` first on anything with ``__getitem__``,
    which a Core row has (by position): every field of every row would raise
    and catch an error before falling back to the attribute.
    """

    def get_attribute(self, obj: Any, attr: str, default: Any) -> Any:
        if isinstance(obj, dict) or "." in attr:
            return super().get_attribute(obj, attr, default)
        return getattr(obj, attr, default)
