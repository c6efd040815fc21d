"""Creating a tenant: its row, its db schema at the newest revision, its owner.

See the package's docstring for the order of the steps across two databases.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable

import psycopg
import sqlalchemy as sa
from flask import current_app
from sqlalchemy import orm
from sqlalchemy.exc import IntegrityError
from sqlalchemy.exc import ProgrammingError

from pilar.db.extensions import db
from pilar.errors import ConflictError
from pilar.errors import ValidationError
from pilar.models import DEFAULT_NODE
from pilar.models import Role
from pilar.models import Tenant
from pilar.models import TenantUser
from pilar.security.passwords import hash_password
from pilar.tenancy import directory
from pilar.tenancy import get_nodes
from pilar.tenancy.fleet.building import build_schema
from pilar.tenancy.fleet.provisioning.checks import check_schema_name_free
from pilar.tenancy.fleet.provisioning.checks import conflict
from pilar.tenancy.fleet.provisioning.checks import schema_name_taken
from pilar.tenancy.fleet.provisioning.checks import validate_owner
from pilar.tenancy.locks import lock_tenant
from pilar.tenancy.names import derive_schema_name
from pilar.tenancy.names import validate_domain
from pilar.tenancy.names import validate_schema_name
from pilar.tenancy.names import validate_tenant_name

# Called in the control plane's transaction of a create or drop, with the
# tenant (None for a drop) and its id (None for a drop): how a caller writes
# rows of its own atomically with it (an idempotency key).
InTransaction = Callable[[sa.Connection, Tenant | None, uuid.UUID | None], None]

# Enough for a handful of creates racing for one derived name: each loses at
# most once to each of the others.
_DERIVED_NAME_ATTEMPTS = 5


@dataclasses.dataclass(frozen=True)
class OwnerSpec:
    email: str
    password: str = dataclasses.field(repr=False)


@dataclasses.dataclass(frozen=True)
class _NewTenant:
    """A create's checked input, as each attempt of it uses it."""

    name: str
    domain: str
    # None: derived from the domain, again on each attempt.
    schema_name: str | None
    owner: OwnerSpec | None
    node: str
    in_transaction: InTransaction | None


def create_tenant(
    name: str,
    domain: str,
    *,
    schema_name: str | None = None,
    owner: OwnerSpec | None = None,
    node: str | None = None,
    in_transaction: InTransaction | None = None,
) -> Tenant:
    """Create a tenant: row, db schema at the newest tenant revision, owner.

    The schema goes to ``node``, else to the placement node with the fewest
    tenants. Commits its own transactions. Raises ``ValidationError`` for bad
    input (an unknown node included), ``ConflictError`` when the domain or
    schema name is taken (a derived schema name taken by a concurrent create
    is derived again instead) and ``NodeUnavailableError`` when the node
    cannot be reached, having created nothing.
    """
    name = validate_tenant_name(name)
    domain = validate_domain(domain, current_app.config["PLATFORM_HOSTS"])
    if schema_name is not None:
        validate_schema_name(schema_name)
    if owner is not None:
        validate_owner(owner.email, owner.password)
    node = _check_node(node) if node is not None else place()
    tenant = _create_with_retries(
        _NewTenant(name, domain, schema_name, owner, node, in_transaction)
    )
    directory().invalidate(domain)
    return tenant


def place() -> str:
    """Return the placement node with the fewest tenants (ties: by name)."""
    placement = get_nodes().config.placement
    if len(placement) == 1:
        return placement[0]
    with db.engine.connect() as conn:
        counts = dict(
            conn.execute(
                sa.select(Tenant.node, sa.func.count())
                .where(Tenant.node.in_(placement))
                .group_by(Tenant.node)
            ).all()
        )
    return min(placement, key=lambda name: (counts.get(name, 0), name))


def _check_node(node: str) -> str:
    if node not in get_nodes().config.urls:
        raise ValidationError(
            f"Node {node!r} is not configured.",
            errors={"node": [f"Not one of {', '.join(get_nodes().names)}."]},
        )
    return node


def _create_with_retries(new: _NewTenant) -> Tenant:
    # A create that loses a race fails on a unique index once the winner has
    # committed. A derived schema name was not asked for, so we derive again
    # rather than report it taken. Each attempt is a new transaction, not a
    # savepoint: its fresh snapshot sees the winner's schema and row under any
    # isolation level, the failed attempt's schema is gone with its rollback,
    # and the domain check runs again, so a lost race for the domain is still
    # a 409. An explicit schema name gets one attempt.
    attempts_left = _DERIVED_NAME_ATTEMPTS if new.schema_name is None else 1
    while True:
        attempts_left -= 1
        try:
            if new.node == DEFAULT_NODE:
                with db.engine.connect() as conn, conn.begin():
                    return _create_in_transaction(conn, conn, new)
            return _create_on_node(new)
        except (IntegrityError, ProgrammingError) as error:
            # On a node of its own, the winner's schema may be committed
            # before this attempt's CREATE SCHEMA: that is a lost race too.
            lost = isinstance(error, IntegrityError) or isinstance(
                error.orig, psycopg.errors.DuplicateSchema
            )
            if not lost:
                raise
            if not attempts_left:
                raise conflict(new.domain) from None


def _create_on_node(new: _NewTenant) -> Tenant:
    # The node's transaction stays open while the control plane commits the
    # rows, and commits last (see the module's docstring).
    with get_nodes().engine(new.node).connect() as node_conn:
        node_transaction = node_conn.begin()
        with db.engine.connect() as conn, conn.begin():
            tenant = _create_in_transaction(conn, node_conn, new)
        try:
            _crash_point("created_rows")
            node_transaction.commit()
        except Exception:
            # The rows are committed, the schema is not: take the rows back
            # (a crash here leaves them to doctor, who builds the schema).
            _delete_tenant_row(tenant.id)
            raise
    return tenant


def _create_in_transaction(
    conn: sa.Connection, node_conn: sa.Connection, new: _NewTenant
) -> Tenant:
    # ``conn`` is the control plane's transaction, ``node_conn`` the node's
    # (the same one on ``default``); the caller commits ``conn`` first.
    domain, schema_name, owner = new.domain, new.schema_name, new.owner
    if conn.scalar(sa.select(sa.exists().where(Tenant.domain == domain))):
        raise ConflictError(
            f"Domain {domain!r} is taken.", errors={"domain": ["Taken."]}
        )
    if schema_name is None:
        schema_name = derive_schema_name(
            domain, lambda c: schema_name_taken(conn, node_conn, c)
        )
    else:
        check_schema_name_free(conn, node_conn, schema_name)
    if node_conn is not conn:
        # Holds off doctor's repair of this schema until the node commits.
        lock_tenant(node_conn, schema_name)
    node_conn.execute(sa.schema.CreateSchema(schema_name))
    revision = build_schema(node_conn, schema_name)
    with orm.Session(bind=conn, expire_on_commit=False) as session:
        tenant = Tenant(
            name=new.name,
            domain=domain,
            schema_name=schema_name,
            schema_revision=revision,
            node=new.node,
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
    if new.in_transaction is not None:
        new.in_transaction(conn, tenant, tenant.id)
    return tenant


def _delete_tenant_row(tenant_id: uuid.UUID) -> None:
    with db.engine.connect() as conn, conn.begin():
        conn.execute(sa.delete(Tenant).where(Tenant.id == tenant_id))


def _crash_point(name: str) -> None:
    """Do nothing; tests replace it to fail between two databases' commits."""
