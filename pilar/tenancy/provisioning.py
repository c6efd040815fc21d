"""Creating and dropping tenants: public row, db schema and owner, atomically.

Everything happens in one transaction on one connection; PostgreSQL's
transactional DDL means a failure at any step leaves neither row nor schema.
"""

from __future__ import annotations

import dataclasses
import re
import uuid

import sqlalchemy as sa
from flask import current_app
from sqlalchemy import orm
from sqlalchemy.exc import IntegrityError

from pilar.emails import within_limits
from pilar.errors import ConflictError
from pilar.errors import NotFoundError
from pilar.errors import ValidationError
from pilar.extensions import db
from pilar.models import Role
from pilar.models import Tenant
from pilar.models import TenantUser
from pilar.passwords import MIN_PASSWORD_LENGTH
from pilar.passwords import hash_password
from pilar.storable import UNSTORABLE_TEXT
from pilar.storable import is_storable
from pilar.tenancy import ddl
from pilar.tenancy import directory
from pilar.tenancy.migrations import lock_tenant
from pilar.tenancy.names import derive_schema_name
from pilar.tenancy.names import validate_domain
from pilar.tenancy.names import validate_schema_name
from pilar.tenancy.names import validate_tenant_name

_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_TEMPLATES_KEY = "pilar.schema_templates"
# Enough for a handful of creates racing for one derived name: each loses at
# most once to each of the others.
_DERIVED_NAME_ATTEMPTS = 5


@dataclasses.dataclass(frozen=True)
class OwnerSpec:
    email: str
    password: str = dataclasses.field(repr=False)


def create_tenant(
    name: str,
    domain: str,
    *,
    schema_name: str | None = None,
    owner: OwnerSpec | None = None,
) -> Tenant:
    """Create a tenant: row, db schema at the newest tenant revision, owner.

    Commits its own transaction. Raises ``ValidationError`` for bad input and
    ``ConflictError`` when the domain or schema name is taken; a derived
    schema name taken by a concurrent create is derived again instead.
    """
    name = validate_tenant_name(name)
    domain = validate_domain(domain, current_app.config["PLATFORM_HOSTS"])
    if schema_name is not None:
        validate_schema_name(schema_name)
    if owner is not None:
        _validate_owner(owner)
    tenant = _create_with_retries(name, domain, schema_name, owner)
    directory().invalidate(domain)
    return tenant


def _create_with_retries(
    name: str,
    domain: str,
    schema_name: str | None,
    owner: OwnerSpec | None,
) -> Tenant:
    # A create that loses a race fails on a unique index once the winner has
    # committed. A derived schema name was not asked for, so we derive again
    # rather than report it taken. Each attempt is a new transaction, not a
    # savepoint: its fresh snapshot sees the winner's schema and row under any
    # isolation level, the failed attempt's schema is gone with its rollback,
    # and the domain check runs again, so a lost race for the domain is still
    # a 409. An explicit schema name gets one attempt.
    attempts_left = _DERIVED_NAME_ATTEMPTS if schema_name is None else 1
    while True:
        attempts_left -= 1
        try:
            with db.engine.connect() as conn, conn.begin():
                return _create_in_transaction(conn, name, domain, schema_name, owner)
        except IntegrityError:
            if not attempts_left:
                raise _conflict(domain) from None


def _create_in_transaction(
    conn: sa.Connection,
    name: str,
    domain: str,
    schema_name: str | None,
    owner: OwnerSpec | None,
) -> Tenant:
    if conn.scalar(sa.select(sa.exists().where(Tenant.domain == domain))):
        raise ConflictError(
            f"Domain {domain!r} is taken.", errors={"domain": ["Taken."]}
        )
    if schema_name is None:
        schema_name = derive_schema_name(domain, lambda c: _schema_exists(conn, c))
    else:
        _check_schema_name_free(conn, schema_name)
    conn.execute(sa.schema.CreateSchema(schema_name))
    revision = build_schema(conn, schema_name)
    with orm.Session(bind=conn, expire_on_commit=False) as session:
        tenant = Tenant(
            name=name, domain=domain, schema_name=schema_name, schema_revision=revision
        )
        session.add(tenant)
        if owner is not None:
            session.flush()
            session.add(
                TenantUser(
                    tenant_id=tenant.id,
                    email=owner.email,
                    password_hash=hash_password(owner.password),
                    role=Role.OWNER,
                )
            )
        session.flush()
        session.expunge(tenant)
    return tenant


def build_schema(conn: sa.Connection, schema_name: str) -> str:
    """Bring the new, empty db schema to the newest tenant revision.

    Runs the newest revision's DDL, rendered once per process, instead of
    replaying every migration (``pilar.tenancy.ddl``). Returns the revision,
    for the caller to record in ``public.tenants``.
    """
    templates: ddl.SchemaTemplates = current_app.extensions.setdefault(
        _TEMPLATES_KEY, ddl.SchemaTemplates()
    )
    return templates.build(
        conn, schema_name, current_app.config["TENANT_MIGRATIONS_DIR"]
    )


def drop_tenant(tenant_id: uuid.UUID) -> Tenant:
    """Drop a tenant's db schema and every row of it, atomically; commits.

    Waits for a migration run that holds the tenant. Raises ``NotFoundError``.
    """
    with (
        db.engine.connect() as conn,
        conn.begin(),
        orm.Session(bind=conn, expire_on_commit=False) as session,
    ):
        tenant = session.get(Tenant, tenant_id, with_for_update=True)
        if tenant is None:
            raise NotFoundError(f"Tenant {str(tenant_id)!r} does not exist.")
        lock_tenant(conn, tenant.schema_name)
        conn.execute(
            sa.schema.DropSchema(tenant.schema_name, cascade=True, if_exists=True)
        )
        session.delete(tenant)
        session.flush()
        session.expunge(tenant)
    directory().invalidate(tenant.domain)
    return tenant


def _schema_exists(conn: sa.Connection, schema_name: str) -> bool:
    namespace = sa.table("pg_namespace", sa.column("nspname"), schema="pg_catalog")
    taken_by_tenant = sa.exists().where(Tenant.schema_name == schema_name)
    in_catalog = sa.exists().where(namespace.c.nspname == schema_name)
    return bool(conn.scalar(sa.select(sa.or_(taken_by_tenant, in_catalog))))


def _check_schema_name_free(conn: sa.Connection, schema_name: str) -> None:
    if conn.scalar(sa.select(sa.exists().where(Tenant.schema_name == schema_name))):
        raise ConflictError(
            f"Schema name {schema_name!r} is taken.",
            errors={"schema_name": ["Taken by another tenant."]},
        )
    if _schema_exists(conn, schema_name):
        raise ValidationError(
            f"Schema name {schema_name!r} is reserved.",
            errors={"schema_name": ["A db schema of that name exists already."]},
        )


def _conflict(domain: str) -> ConflictError:
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


def _validate_owner(owner: OwnerSpec) -> None:
    errors: dict[str, list[str]] = {}
    if not within_limits(owner.email) or not _EMAIL_RE.fullmatch(owner.email):
        errors["email"] = ["Not a valid email address."]
    elif not is_storable(owner.email):
        errors["email"] = [UNSTORABLE_TEXT]
    if len(owner.password) < MIN_PASSWORD_LENGTH:
        errors["password"] = [f"Must have {MIN_PASSWORD_LENGTH} characters or more."]
    elif not is_storable(owner.password):
        errors["password"] = [UNSTORABLE_TEXT]
    if errors:
        raise ValidationError("The owner is not valid.", errors={"owner": errors})
