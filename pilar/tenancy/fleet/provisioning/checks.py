"""What a create checks against what exists: names taken, and the owner it is given."""

from __future__ import annotations

import sqlalchemy as sa

from pilar.db.extensions import db
from pilar.errors import ConflictError
from pilar.errors import ValidationError
from pilar.models import Tenant
from pilar.security.passwords import MIN_PASSWORD_LENGTH
from pilar.tenancy.fleet.catalog import schema_exists
from pilar.validation.emails import is_valid_email
from pilar.validation.storable import UNSTORABLE_TEXT
from pilar.validation.storable import is_storable


def schema_name_taken(
    conn: sa.Connection, node_conn: sa.Connection, schema_name: str
) -> bool:
    """Tell whether a tenant has ``schema_name``, or the node a db schema of it."""
    taken = conn.scalar(sa.select(sa.exists().where(Tenant.schema_name == schema_name)))
    return bool(taken) or schema_exists(node_conn, schema_name)


def check_schema_name_free(
    conn: sa.Connection, node_conn: sa.Connection, schema_name: str
) -> None:
    if conn.scalar(sa.select(sa.exists().where(Tenant.schema_name == schema_name))):
        raise ConflictError(
            f"Schema name {schema_name!r} is taken.",
            errors={"schema_name": ["Taken by another tenant."]},
        )
    if schema_exists(node_conn, schema_name):
        raise ValidationError(
            f"Schema name {schema_name!r} is reserved.",
            errors={"schema_name": ["A db schema of that name exists already."]},
        )


def conflict(domain: str) -> ConflictError:
    # A create that raced another past the checks: it failed on a unique index
    # (the tenants table's, or the catalog's on schema names when both got as
    # far as CREATE SCHEMA), which does not say which value the other took.
    # With the other committed, the domain tells: a schema name derived from
    # the same domain is taken because the domain is. A derived name gets
    # here only when every attempt lost its race.
    with db.engine.connect() as conn:
        domain_taken = conn.scalar(
            sa.select(sa.exists().where(Tenant.domain == domain))
        )
    field = "domain" if domain_taken else "schema_name"
    return ConflictError(
        f"The {field.replace('_', ' ')} of tenant {domain!r} is taken.",
        errors={field: ["Taken."]},
    )


def validate_owner(email: str, password: str) -> None:
    """Raise ``ValidationError`` naming ``owner.email`` or ``owner.password``."""
    errors: dict[str, list[str]] = {}
    # The API's OwnerSchema applies the same rule, in the same order.
    if not is_storable(email):
        errors["email"] = [UNSTORABLE_TEXT]
    elif not is_valid_email(email):
        errors["email"] = ["Not a valid email address."]
    if len(password) < MIN_PASSWORD_LENGTH:
        errors["password"] = [f"Must have {MIN_PASSWORD_LENGTH} characters or more."]
    elif not is_storable(password):
        errors["password"] = [UNSTORABLE_TEXT]
    if errors:
        raise ValidationError("The owner is not valid.", errors={"owner": errors})
