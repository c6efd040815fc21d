"""Tenant API: ``/api/v1/phone-numbers`` (docs/api.md)."""

from __future__ import annotations

import uuid
from typing import Any

from flask.views import MethodView

from pilar.api.auth import SECURITY
from pilar.api.auth import authenticate
from pilar.api.auth import roles_required
from pilar.api.blueprint import Blueprint
from pilar.api.errors import error_responses
from pilar.models import PhoneNumber
from pilar.models import Role
from pilar.schemas.pagination import PageArgsSchema
from pilar.schemas.phone_numbers import SIP_DEFAULT_PORT
from pilar.schemas.phone_numbers import PhoneNumberCreateSchema
from pilar.schemas.phone_numbers import PhoneNumberPageSchema
from pilar.schemas.phone_numbers import PhoneNumberSchema
from pilar.schemas.phone_numbers import PhoneNumberUpdateSchema
from pilar.services import phone_numbers as phone_number_service
from pilar.services.pagination import RowPage

blp = Blueprint(
    "phone_numbers",
    __name__,
    url_prefix="/api/v1/phone-numbers",
    description="The studio's phone numbers for AI calls, with their SIP "
    "credentials. Read: any role; write: OWNER or ADMIN.",
)
blp.before_request(authenticate)
blp.before_request(roles_required(Role.OWNER, Role.ADMIN, writes_only=True))


@blp.route("")
class PhoneNumbers(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, PhoneNumberPageSchema)
    @error_responses(blp, 401)
    def get(self, args: dict[str, Any]) -> RowPage:
        """List phone numbers, newest first

        Page with `limit` and `cursor`. Secrets are never shown:
        `sip_credentials.secrets_set` names those that are stored.
        """
        return phone_number_service.list_phone_numbers(**args)

    @blp.doc(
        security=SECURITY,
        description="The number must be a valid E.164 number; it is stored in "
        "E.164 form and starts `PENDING`. A number that any studio holds gets "
        "409. `sip_credentials` is optional; `port` defaults to "
        f"{SIP_DEFAULT_PORT} and `transport` to `udp`.",
    )
    @blp.arguments(PhoneNumberCreateSchema)
    @blp.response(201, PhoneNumberSchema)
    @error_responses(blp, 400, 401, 403, 409, 413, 415)
    def post(self, data: dict[str, Any]) -> PhoneNumber:
        """Add a phone number"""
        return phone_number_service.create_phone_number(**data)


@blp.route("/<uuid:phone_number_id>")
class PhoneNumbersById(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, PhoneNumberSchema)
    @error_responses(blp, 401, 404)
    def get(self, phone_number_id: uuid.UUID) -> PhoneNumber:
        """Show a phone number"""
        return phone_number_service.get_phone_number(phone_number_id)

    @blp.doc(security=SECURITY)
    @blp.arguments(PhoneNumberUpdateSchema)
    @blp.response(200, PhoneNumberSchema)
    @error_responses(blp, 400, 401, 403, 404, 409, 413, 415)
    def patch(self, data: dict[str, Any], phone_number_id: uuid.UUID) -> PhoneNumber:
        """Change a phone number, its SIP credentials or its status

        A new number is claimed (409 if any studio holds it) and the old one
        freed. `sip_credentials` replaces the stored object whole, except
        that a password it omits keeps the stored one; null removes them.
        """
        return phone_number_service.update_phone_number(phone_number_id, data)

    @blp.doc(security=SECURITY)
    @blp.response(204)
    @error_responses(blp, 401, 403, 404)
    def delete(self, phone_number_id: uuid.UUID) -> None:
        """Delete a phone number and free it for every studio"""
        phone_number_service.delete_phone_number(phone_number_id)
