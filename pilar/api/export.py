"""``GET /api/v1/export``: the studio's own data in one streamed JSON document (§10)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import marshmallow as ma
from flask import Response
from flask import stream_with_context
from flask.views import MethodView
from marshmallow import fields

from pilar.api.auth import SECURITY
from pilar.api.auth import authenticate
from pilar.api.auth import roles_required
from pilar.api.blueprint import Blueprint
from pilar.api.errors import error_responses
from pilar.api.integrations import present
from pilar.models import Role
from pilar.schemas.export import StudioExportSchema
from pilar.services import export as export_service

blp = Blueprint(
    "export",
    __name__,
    url_prefix="/api/v1/export",
    description="The studio's own data, for its right to it: OWNER only.",
)
blp.before_request(authenticate)
blp.before_request(roles_required(Role.OWNER))

_DOCUMENT = StudioExportSchema()


@blp.route("")
class Export(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, StudioExportSchema)
    @error_responses(blp, 401, 403)
    def get(self) -> Response:
        """Download all of the studio's data

        One JSON document: the studio's name and domain, and every user,
        integration, phone number, WhatsApp channel, conversation and
        workout plan, each list oldest first, each item as its own endpoint
        shows it. No password hash and no secret is included: `secrets_set`
        names the secrets that are stored. The document is streamed as it is
        read, from one snapshot of the data.
        ---
        A batch of rows is read, dumped and sent at a time
        (``pilar.services.export``): memory does not grow with the studio.
        """
        # The snapshot outlives this view: it ends with the document, or when
        # the response is closed (a client that went away) if that is sooner.
        closing = ExitStack()
        export = closing.enter_context(export_service.studio_export())
        filename = f"{export.tenant.domain}-export.json"
        response = Response(
            stream_with_context(_document(export, closing)),
            mimetype="application/json",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
        response.call_on_close(closing.close)
        return response


def _document(export: export_service.StudioExport, closing: ExitStack) -> Iterator[str]:
    with closing:
        yield '{"tenant":' + _encode(_schema_of("tenant").dump(export.tenant))
        for section in export.sections:
            schema = _schema_of(section.name)
            yield f',"{section.name}":['
            separator = ""
            for batch in section.batches:
                items = map(present, batch) if section.name == "integrations" else batch
                yield separator + _encode(schema.dump(items, many=True))[1:-1]
                separator = ","
            yield "]"
    yield "}\n"


def _schema_of(name: str) -> ma.Schema:
    """Return the schema of the document's ``name``, or of each of its items."""
    field = _DOCUMENT.fields[name]
    if isinstance(field, fields.List):
        field = field.inner
    if not isinstance(field, fields.Nested):
        raise TypeError(f"The export's {name!r} is not made of objects.")
    schema: ma.Schema = field.schema
    return schema


def _encode(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
