"""Creating and dropping tenants: public row, db schema and owner, atomically.

On the node ``default`` everything happens in one transaction on one
connection; PostgreSQL's transactional DDL means a failure at any step leaves
neither row nor schema. On another node there are two databases and no shared
transaction, so the steps are ordered for what a crash can leave:

- create: the node's transaction builds the schema under the tenant's
  advisory lock and stays open while the control plane commits the rows; the
  node commits last. A node that cannot be reached fails before anything is
  written. A crash between the two commits leaves a tenant row whose schema
  is missing, which ``doctor --fix`` builds (the tenant never held data).
- drop: the node's lock is taken first (an unreachable node drops nothing),
  then the control plane deletes the rows and records the schema in
  ``pending_drops`` in one commit, then the node drops the schema, then the
  record goes. A crash in between leaves a listed schema ``doctor`` drops.
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
from pilar.errors import NotFoundError
from pilar.errors import ValidationError
from pilar.models import DEFAULT_NODE
from pilar.models import PendingDrop
from pilar.models import Role
from pilar.models import Tenant
from pilar.models import TenantUser
from pilar.security.passwords import MIN_PASSWORD_LENGTH
from pilar.security.passwords import hash_password
from pilar.tenancy import directory
from pilar.tenancy import get_nodes
from pilar.tenancy.fleet import ddl
from pilar.tenancy.locks import lock_tenant
from pilar.tenancy.names import derive_schema_name
from pilar.tenancy.names import validate_domain
from pilar.tenancy.names import validate_schema_name
from pilar.tenancy.names import validate_tenant_name
from pilar.validation.emails import is_valid_email
from pilar.validation.storable import UNSTORABLE_TEXT
from pilar.validation.storable import is_storable

# Called in the control plane's transaction of a create or drop, with the
# tenant (None for a drop) and its id (None for a drop): how a caller writes
# rows of its own atomically with it (an idempotency key).
InTransaction = Callable[[sa.Connection, Tenant | None, uuid.UUID | None], None]

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
        _validate_owner(owner)
    node = _check_node(node) if node is not None else place()
    tenant = _create_with_retries(
        name, domain, schema_name, owner, node, in_transaction
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


def _create_with_retries(
    name: str,
    domain: str,
    schema_name: str | None,
    owner: OwnerSpec | None,
    node: str,
    in_transaction: InTransaction | None,
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
            if node == DEFAULT_NODE:
                with db.engine.connect() as conn, conn.begin():
                    tenant = _create_in_transaction(
                        conn, conn, name, domain, schema_name, owner, node
                    )
                    if in_transaction is not None:
                        in_transaction(conn, tenant, tenant.id)
                    return tenant
            return _create_on_node(
                name, domain, schema_name, owner, node, in_transaction
            )
        except (IntegrityError, ProgrammingError) as error:
            # On a node of its own, the winner's schema may be committed
            # before this attempt's CREATE SCHEMA: that is a lost race too.
            lost = isinstance(error, IntegrityError) or isinstance(
                error.orig, psycopg.errors.DuplicateSchema
            )
            if not lost:
                raise
            if not attempts_left:
                raise _conflict(domain) from None


def _create_on_node(
    name: str,
    domain: str,
    schema_name: str | None,
    owner: OwnerSpec | None,
    node: str,
    in_transaction: InTransaction | None,
) -> Tenant:
    # The node's transaction stays open while the control plane commits the
    # rows, and commits last (see the module's docstring).
    with get_nodes().engine(node).connect() as node_conn:
        node_transaction = node_conn.begin()
        with db.engine.connect() as conn, conn.begin():
            tenant = _create_in_transaction(
                conn, node_conn, name, domain, schema_name, owner, node
            )
            if in_transaction is not None:
                in_transaction(conn, tenant, tenant.id)
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
    conn: sa.Connection,
    node_conn: sa.Connection,
    name: str,
    domain: str,
    schema_name: str | None,
    owner: OwnerSpec | None,
    node: str,
) -> Tenant:
    # ``conn`` is the control plane's transaction, ``node_conn`` the node's
    # (the same one on ``default``); the caller commits ``conn`` first.
    if conn.scalar(sa.select(sa.exists().where(Tenant.domain == domain))):
        raise ConflictError(
            f"Domain {domain!r} is taken.", errors={"domain": ["Taken."]}
        )
    if schema_name is None:
        schema_name = derive_schema_name(
            domain, lambda c: _schema_exists(conn, node_conn, c)
        )
    else:
        _check_schema_name_free(conn, node_conn, schema_name)
    if node_conn is not conn:
        # Holds off doctor's repair of this schema until the node commits.
        lock_tenant(node_conn, schema_name)
    node_conn.execute(sa.schema.CreateSchema(schema_name))
    revision = build_schema(node_conn, schema_name)
    with orm.Session(bind=conn, expire_on_commit=False) as session:
        tenant = Tenant(
            name=name,
            domain=domain,
            schema_name=schema_name,
            schema_revision=revision,
            node=node,
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
    replaying every migration (``pilar.tenancy.fleet.ddl``). Returns the revision,
    for the caller to record in ``public.tenants``.
    """
    templates: ddl.SchemaTemplates = current_app.extensions.setdefault(
        _TEMPLATES_KEY, ddl.SchemaTemplates()
    )
    return templates.build(
        conn, schema_name, current_app.config["TENANT_MIGRATIONS_DIR"]
    )


def drop_tenant(
    tenant_id: uuid.UUID, *, in_transaction: InTransaction | None = None
) -> Tenant:
    """Drop a tenant's db schema and every row of it; commits.

    Atomic on ``default``; ordered on another node (see the module's
    docstring). Waits for a migration run that holds the tenant. Raises
    ``NotFoundError``, and ``NodeUnavailableError`` having changed nothing.
    """
    with db.engine.connect() as conn:
        node = conn.scalar(sa.select(Tenant.node).where(Tenant.id == tenant_id))
    if node is None or node == DEFAULT_NODE:
        with db.engine.connect() as conn, conn.begin():
            tenant = _delete_rows(conn, conn, tenant_id)
            conn.execute(_drop_schema(tenant.schema_name))
            if in_transaction is not None:
                in_transaction(conn, None, None)
    else:
        with get_nodes().engine(node).connect() as node_conn, node_conn.begin():
            with db.engine.connect() as conn, conn.begin():
                tenant = _delete_rows(conn, node_conn, tenant_id)
                conn.execute(
                    sa.insert(PendingDrop).values(
                        node=node, schema_name=tenant.schema_name
                    )
                )
                if in_transaction is not None:
                    in_transaction(conn, None, None)
            _crash_point("deleted_rows")
            node_conn.execute(_drop_schema(tenant.schema_name))
        _crash_point("dropped_schema")
        finish_pending_drop(node, tenant.schema_name)
    directory().invalidate(tenant.domain)
    return tenant


def finish_pending_drop(node: str, schema_name: str) -> None:
    """Forget the pending drop of ``schema_name`` on ``node``; its schema is gone."""
    with db.engine.connect() as conn, conn.begin():
        conn.execute(
            sa.delete(PendingDrop).where(
                PendingDrop.node == node, PendingDrop.schema_name == schema_name
            )
        )


def _delete_rows(
    conn: sa.Connection, node_conn: sa.Connection, tenant_id: uuid.UUID
) -> Tenant:
    with orm.Session(bind=conn, expire_on_commit=False) as session:
        tenant = session.get(Tenant, tenant_id, with_for_update=True)
        if tenant is None:
            raise NotFoundError(f"Tenant {str(tenant_id)!r} does not exist.")
        lock_tenant(node_conn, tenant.schema_name)
        session.delete(tenant)
        session.flush()
        session.expunge(tenant)
    return tenant


def _delete_tenant_row(tenant_id: uuid.UUID) -> None:
    with db.engine.connect() as conn, conn.begin():
        conn.execute(sa.delete(Tenant).where(Tenant.id == tenant_id))


def _drop_schema(schema_name: str) -> sa.schema.DropSchema:
    return sa.schema.DropSchema(schema_name, cascade=True, if_exists=True)


def _crash_point(name: str) -> None:
    """Do nothing; tests replace it to fail between two databases' commits."""


def _schema_exists(
    conn: sa.Connection, node_conn: sa.Connection, schema_name: str
) -> bool:
    namespace = sa.table("pg_namespace", sa.column("nspname"), schema="pg_catalog")
    taken_by_tenant = sa.exists().where(Tenant.schema_name == schema_name)
    in_catalog = sa.exists().where(namespace.c.nspname == schema_name)
    if node_conn is conn:
        return bool(conn.scalar(sa.select(sa.or_(taken_by_tenant, in_catalog))))
    return bool(conn.scalar(sa.select(taken_by_tenant))) or bool(
        node_conn.scalar(sa.select(in_catalog))
    )


def _check_schema_name_free(
    conn: sa.Connection, node_conn: sa.Connection, schema_name: str
) -> None:
    if conn.scalar(sa.select(sa.exists().where(Tenant.schema_name == schema_name))):
        raise ConflictError(
            f"Schema name {schema_name!r} is taken.",
            errors={"schema_name": ["Taken by another tenant."]},
        )
    if _schema_exists(conn, node_conn, schema_name):
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
    # The API's OwnerSchema applies the same rule, in the same order.
    if not is_storable(owner.email):
        errors["email"] = [UNSTORABLE_TEXT]
    elif not is_valid_email(owner.email):
        errors["email"] = ["Not a valid email address."]
    if len(owner.password) < MIN_PASSWORD_LENGTH:
        errors["password"] = [f"Must have {MIN_PASSWORD_LENGTH} characters or more."]
    elif not is_storable(owner.password):
        errors["password"] = [UNSTORABLE_TEXT]
    if errors:
        raise ValidationError("The owner is not valid.", errors={"owner": errors})
