"""Claiming and releasing numbers in the public index, for the current tenant.

The index's primary key (kind, value) is what makes a number unique across
every tenant: of two transactions claiming one number, the second waits for
the first and fails if it commits. ``pilar.tenancy.claims`` writes the claim
with the row that holds it, or in an order safe across two databases.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import psycopg
from sqlalchemy.exc import IntegrityError
from sqlalchemy.exc import OperationalError

from pilar.db.extensions import db
from pilar.errors import ConflictError
from pilar.errors import field_errors
from pilar.models import NumberKind
from pilar.models import TenantModel
from pilar.tenancy import claims
from pilar.tenancy import current_tenant

_LABELS = {
    NumberKind.PHONE: "Phone number",
    NumberKind.WHATSAPP: "WhatsApp number",
    NumberKind.WHATSAPP_PHONE_NUMBER_ID: "WhatsApp phone_number_id",
}


def claim_number(
    kind: NumberKind, value: str, owner_id: uuid.UUID, *, field: str
) -> None:
    """Claim ``value`` for the tenant row ``owner_id`` in the open transaction.

    Flushes at once, so a number that any tenant holds raises
    ``ConflictError`` here, after rolling the session back; the error names
    ``field`` (dotted for a key of a nested object). The claim lasts only if
    the caller commits.
    """
    try:
        claims.claim(db.session(), _hold(kind, value, owner_id))
    except IntegrityError:
        db.session.rollback()
        raise ConflictError(
            f"{_LABELS[kind]} {value!r} is already in use.",
            errors=field_errors([field], "Already in use."),
        ) from None
    except OperationalError as error:
        if not isinstance(error.orig, psycopg.errors.DeadlockDetected):
            raise
        # Two transactions each freeing the number the other claims (say, two
        # channels swapping numbers at once): PostgreSQL aborts one of them.
        db.session.rollback()
        raise ConflictError(
            f"{_LABELS[kind]} {value!r} is being changed by another request; "
            "try again.",
            errors=field_errors([field], "Being changed by another request."),
        ) from None


def release_number(kind: NumberKind, value: str, owner_id: uuid.UUID) -> None:
    """Free ``value`` with the open transaction, if ``owner_id`` holds it."""
    claims.release(db.session(), _hold(kind, value, owner_id))


def _hold(kind: NumberKind, value: str, owner_id: uuid.UUID) -> claims.Hold:
    return claims.Hold(kind, value, current_tenant().id, owner_id)


def change_number(
    kind: NumberKind,
    old: str | None,
    new: str | None,
    owner_id: uuid.UUID,
    *,
    field: str,
) -> None:
    """Move ``owner_id``'s claim from ``old`` to ``new`` (either may be None)."""
    if old == new:
        return
    if old is not None:
        release_number(kind, old, owner_id)
    if new is not None:
        claim_number(kind, new, owner_id, field=field)


class HeldNumbers:
    """The columns of one tenant model whose values are claimed, with their kinds.

    They are declared in ``claims.HELD_NUMBERS``, named as the API names the
    field: ``"wa_number"``, or dotted (``"wa_cloud_api_config.phone_number_id"``)
    for a key of a JSON column. Claims are made, moved and freed in the order
    they are declared.
    """

    def __init__(self, model: type[TenantModel]) -> None:
        self._columns = claims.HELD_NUMBERS[model]

    def claim(self, row: Any) -> None:
        """Claim each number ``row`` holds, as ``claim_number`` does."""
        for kind, field in self._columns:
            value = self._value(row, field)
            if value is not None:
                claim_number(kind, value, row.id, field=field)

    def release(self, row: Any) -> None:
        """Free each number ``row`` holds, as ``release_number`` does."""
        for kind, field in self._columns:
            value = self._value(row, field)
            if value is not None:
                release_number(kind, value, row.id)

    def replace(self, row: Any, column: str, new: Any) -> None:
        """Set ``row.column`` to ``new``, first moving the claims of the numbers in it.

        The row keeps its old value until the claims have moved, so a flush
        they cause writes no number that is not claimed yet.
        """
        for kind, field in self._columns:
            name, *keys = field.split(".")
            if name == column:
                change_number(
                    kind,
                    self._value(row, field),
                    _key(new, keys),
                    row.id,
                    field=field,
                )
        setattr(row, column, new)

    @staticmethod
    def _value(row: Any, field: str) -> str | None:
        name, *keys = field.split(".")
        value: str | None = _key(getattr(row, name), keys)
        return value


def _key(value: Any, keys: list[str]) -> Any:
    for key in keys:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value
