"""The flask-smorest ``Blueprint`` every API module uses, with our body parser."""

from __future__ import annotations

import json
from typing import Any

import flask
import flask_smorest
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
