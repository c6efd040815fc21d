"""Inbound webhooks on platform hosts: WhatsApp Cloud API and Retell (docs/api.md).

One callback URL per provider for the whole platform; each event is routed
by the number it was sent to, not by host (``pilar.services.inbound``). A
request is authenticated by its signature over the raw body, checked before
the body is parsed; with the provider's secret unset, every request gets 503
``not_configured`` and nothing is stored.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import time
from typing import Any

from flask import Response
from flask import current_app
from flask import request
from flask.views import MethodView

from pilar.api.blueprint import Blueprint
from pilar.api.errors import envelope
from pilar.api.errors import error_responses
from pilar.api.errors import read_body
from pilar.api.openapi import duration
from pilar.api.openapi import mebibytes
from pilar.config import DEFAULTS
from pilar.errors import NotFoundError
from pilar.inbound import retell
from pilar.inbound import whatsapp
from pilar.inbound.events import InvalidPayloadError
from pilar.schemas.webhooks import WhatsAppReceiptSchema
from pilar.schemas.webhooks import WhatsAppVerifyArgsSchema
from pilar.services import inbound
from pilar.services.inbound import Receipt
from pilar.services.inbound_conversations import ACTIVE_FOR
from pilar.tenancy import is_platform_request

logger = logging.getLogger(__name__)

# Meta sends batches of messages in one body; the rest of the API keeps the
# app's 1 MiB (MAX_CONTENT_LENGTH).
WHATSAPP_MAX_BODY = 3 * 1024 * 1024
_NO_AUTH: list[dict[str, list[str]]] = []
# The numbers below come from the code's constants, so the document keeps up.
_RETELL_WINDOW = duration(dt.timedelta(milliseconds=retell.WINDOW_MS))
_DESCRIPTIONS = {
    400: "The signed body is not the provider's payload (`invalid_payload`); "
    "nothing of it is stored.",
    401: "The signature header is missing, malformed, wrong or (Retell) more "
    f"than {_RETELL_WINDOW} old (`invalid_signature`); nothing is stored.",
    403: "The verify token is not the configured one.",
    404: "Not served on a tenant host.",
    413: "The body is larger than the route's limit.",
    503: "The provider's secret is not configured (`not_configured`; nothing "
    "is stored), or a database is unavailable: the provider retries.",
}

blp = Blueprint(
    "webhooks",
    __name__,
    url_prefix="/webhooks",
    description="Inbound channels: messages and calls that providers post, "
    "routed by number to the studio holding it. Platform hosts only; each "
    "request is authenticated by its provider's signature.",
)


def _json_body(description: str) -> dict[str, Any]:
    return {
        "required": True,
        "description": description,
        "content": {"application/json": {"schema": {"type": "object"}}},
    }


def _signature_header(name: str, description: str) -> dict[str, Any]:
    return {
        "in": "header",
        "name": name,
        "required": True,
        "schema": {"type": "string"},
        "description": description,
    }


@blp.before_request
def _serve_platform_hosts_only() -> None:
    if not is_platform_request():
        raise NotFoundError("Webhooks are not served on this host.")


@blp.route("/whatsapp")
class WhatsApp(MethodView):
    @blp.doc(
        security=_NO_AUTH,
        responses={
            "200": {
                "description": "The token matches: `hub.challenge`, as text/plain.",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            }
        },
    )
    @blp.arguments(WhatsAppVerifyArgsSchema, location="query")
    @error_responses(blp, 403, 404, 503, descriptions=_DESCRIPTIONS)
    def get(self, args: dict[str, str]) -> Response:
        """Answer Meta's verification of the callback URL

        Meta sends `hub.mode=subscribe`, the verify token typed into the
        app's dashboard and a challenge; the challenge is sent back when the
        token equals `PILAR_WHATSAPP_VERIFY_TOKEN`.
        """
        token = current_app.config.get("WHATSAPP_VERIFY_TOKEN")
        if not token:
            return _not_configured("PILAR_WHATSAPP_VERIFY_TOKEN")
        matches = hmac.compare_digest(
            args["verify_token"].encode(), str(token).encode()
        )
        if args["mode"] != "subscribe" or not matches:
            return envelope(403, "forbidden", "The verify token does not match.")
        response = Response(args["challenge"], mimetype="text/plain")
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    @blp.doc(
        security=_NO_AUTH,
        parameters=[
            _signature_header(
                whatsapp.SIGNATURE_HEADER,
                "`sha256=` and the hex HMAC-SHA256 of the raw body, keyed with "
                "the Meta app's secret (`PILAR_WHATSAPP_APP_SECRET`).",
            )
        ],
        requestBody=_json_body(
            "Meta's payload: `object: whatsapp_business_account`, `entry[]."
            "changes[].value` with `metadata.phone_number_id`, `contacts[]`, "
            "`messages[]` and `statuses[]`. At most "
            f"{mebibytes(WHATSAPP_MAX_BODY)}."
        ),
        description="Each `value` is routed by `metadata.phone_number_id` to the "
        "studio whose WhatsApp channel has it. A text message becomes a turn "
        '`{role: "user", text, at, id}` of the studio\'s WHATSAPP conversation '
        "with the contact (`metadata.wa_id`, `metadata.contact_name`) whose last "
        f"turn is under {duration(ACTIVE_FOR)} old, or of a new one; other types "
        "keep `type`, with empty `text`. A message id already stored is not "
        "stored again. 200 comes only once everything is committed, so a 5xx "
        "makes Meta send the payload again.",
    )
    @blp.response(
        200,
        WhatsAppReceiptSchema,
        description="Every message of the payload is stored (or was already, or "
        "is for no studio's active channel); statuses are acknowledged.",
    )
    @error_responses(blp, 400, 401, 404, 413, 503, descriptions=_DESCRIPTIONS)
    def post(self) -> Receipt | Response:
        """Receive WhatsApp messages"""
        secret = current_app.config.get("WHATSAPP_APP_SECRET")
        if not secret:
            return _not_configured("PILAR_WHATSAPP_APP_SECRET")
        body = read_body(WHATSAPP_MAX_BODY)  # over it: 413, naming the limit
        signature = request.headers.get(whatsapp.SIGNATURE_HEADER)
        if not whatsapp.verify_signature(body, signature, str(secret)):
            return _invalid_signature(whatsapp.SIGNATURE_HEADER)
        try:
            messages = whatsapp.parse(body)
        except InvalidPayloadError as error:
            return _invalid_payload(error)
        return inbound.receive_messages(messages)


@blp.route("/voice/retell")
class RetellCalls(MethodView):
    @blp.doc(
        security=_NO_AUTH,
        parameters=[
            _signature_header(
                retell.SIGNATURE_HEADER,
                "`v=<unix ms>,d=<hex HMAC-SHA256 of the raw body followed by "
                "those digits>`, keyed with `PILAR_RETELL_API_KEY`; at most "
                f"{_RETELL_WINDOW} off.",
            )
        ],
        requestBody=_json_body(
            "Retell's `{event, call}`; `call_ended` and `call_analyzed` are "
            "stored. At most "
            f"{mebibytes(DEFAULTS['MAX_CONTENT_LENGTH'])}."
        ),
    )
    @blp.response(
        204,
        description="Stored, or nothing to store: another event, a web call, or "
        "a number no studio holds.",
    )
    @error_responses(blp, 400, 401, 404, 413, 503, descriptions=_DESCRIPTIONS)
    def post(self) -> Response | None:
        """Receive a voice call's end

        `call_ended` and `call_analyzed` create or update the one VOICE
        conversation of `call.call_id`: `transcript` from `transcript_object`
        (`agent` → `assistant`), `metadata` with `call_id`, `direction`,
        `from_number`, `to_number`, `start_timestamp`, `end_timestamp`,
        `disconnection_reason` and `call_analysis` when present. The studio
        is the one holding `to_number` (inbound) or `from_number` (outbound)
        as a phone number.
        """
        api_key = current_app.config.get("RETELL_API_KEY")
        if not api_key:
            return _not_configured("PILAR_RETELL_API_KEY")
        body = read_body()
        signature = request.headers.get(retell.SIGNATURE_HEADER)
        now_ms = int(time.time() * 1000)
        if not retell.verify_signature(body, signature, str(api_key), now_ms=now_ms):
            return _invalid_signature(retell.SIGNATURE_HEADER)
        try:
            call = retell.parse(body)
        except InvalidPayloadError as error:
            return _invalid_payload(error)
        if call is not None:
            inbound.receive_call(call)
        return None


def _not_configured(variable: str) -> Response:
    logger.error("503 not_configured: %s is not set", variable)
    return envelope(
        503, "not_configured", f"This webhook is not configured ({variable})."
    )


def _invalid_signature(header: str) -> Response:
    return envelope(
        401, "invalid_signature", f"The {header} header does not sign this body."
    )


def _invalid_payload(error: InvalidPayloadError) -> Response:
    return envelope(400, error.code, error.message)
