"""The flask-smorest ``Blueprint`` every API module uses, with our body parser."""

from __future__ import annotations

import json
from typing import Any

import flask
import flask_smorest
import marshmallow as ma
from webargs.flaskparser import FlaskParser


class JSONBodyParser(FlaskParser):
    """webargs' parser, answering 400 for every body ``json.loads`` refuses.

    webargs turns only ``JSONDecodeError`` into a 400; ``json.loads`` raises a
    plain ``ValueError`` for an integer of more than 4,300 digits.
    """

    def _raw_load_json(self, req: flask.Request) -> Any:
        try:
            return super()._raw_load_json(req)
        except json.JSONDecodeError:
            raise
        except ValueError as err:
            return self._handle_invalid_json_error(err, req)  # type: ignore[arg-type]  # it takes any decode error


class Blueprint(flask_smorest.Blueprint):  # type: ignore[misc]  # flask-smorest is untyped
    ARGUMENTS_PARSER = JSONBodyParser()

    def arguments(self, schema: type[ma.Schema] | ma.Schema, **kwargs: Any) -> Any:
        """Declare a view's arguments; a schema class is instantiated once, here.

        webargs builds a new instance of a schema class on every request,
        which costs more than parsing a list request's arguments.

        A JSON body is documented as required only when its schema requires
        a field: a request without a body is read as ``{}``, which a schema
        that requires nothing (a PATCH's, say) accepts.
        """
        if isinstance(schema, type):
            schema = schema()
        if kwargs.get("location", "json") == "json":
            kwargs.setdefault(
                "required",
                any(field.required for field in schema.load_fields.values()),
            )
        return super().arguments(schema, **kwargs)
