"""The doctor's db schema checks: each node's schemas against the control plane's rows.

A schema belongs to the node its tenant row names: a schema of that name on
another node (a crash mid-move, a restore) is an orphan there. Only schemas
that look like a tenant's are ever considered: a valid tenant schema name,
an ``alembic_version`` table and every tenant table.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from collections.abc import Sequence

import sqlalchemy as sa

from pilar.db.extensions import db
from pilar.errors import NodeUnavailableError
from pilar.models import PendingDrop
from pilar.models import Tenant
from pilar.models import TenantModel
from pilar.tenancy import get_nodes
from pilar.tenancy.fleet import revisions
from pilar.tenancy.fleet.building import build_schema
from pilar.tenancy.fleet.catalog import schema_exists
from pilar.tenancy.fleet.doctor.problems import Problem
from pilar.tenancy.fleet.doctor.problems import ProblemKind
from pilar.tenancy.fleet.doctor.problems import Repair
from pilar.tenancy.fleet.moves.state import every_move
from pilar.tenancy.locks import lock_tenant
from pilar.tenancy.names import SCHEMA_NAME_RE
from pilar.tenancy.names import is_reserved_schema_name
from pilar.tenancy.scope import bind_connection

# What a node that cannot be reached raises on connecting.
UNREACHABLE = (sa.exc.OperationalError, NodeUnavailableError)
# Reading a table locks it until the transaction ends: thousands of tenants in
# one transaction would run out of lock slots.
TENANTS_PER_TRANSACTION = 500
_NAMESPACE = sa.table(
    "pg_namespace", sa.column("oid"), sa.column("nspname"), schema="pg_catalog"
)
_CLASS = sa.table(
    "pg_class",
    sa.column("relname"),
    sa.column("relnamespace"),
    sa.column("relkind"),
    schema="pg_catalog",
)


@dataclasses.dataclass(frozen=True)
class TenantOnNode:
    """A tenant row as the doctor reads it from the control plane."""

    id: uuid.UUID
    domain: str
    schema_name: str
    revision: str | None


@dataclasses.dataclass(frozen=True)
class _Record:
    """A revision to record in the control plane once the node has committed."""

    revision: str | None


@dataclasses.dataclass(frozen=True)
class NodeFindings:
    problems: list[Problem]
    # Tenants whose schema is on the node with every table: their rows can be read.
    checkable: list[TenantOnNode]


def node_names() -> tuple[str, ...]:
    return get_nodes().names


def node_engine(node: str) -> sa.Engine:
    return get_nodes().engine(node)


def find_schema_problems(
    node: str, node_conn: sa.Connection, accounted: set[tuple[str, str]]
) -> NodeFindings:
    """Return the schema problems of ``node``, reading its catalog on ``node_conn``.

    The (node, schema) pairs ``accounted`` for by an unfinished move are
    left out: undoing the move repairs them.
    """
    tenants, pending = _control_plane(node)
    node_conn.execution_options(isolation_level="REPEATABLE READ")
    with node_conn.begin():
        looks = {
            name
            for name in node_conn.scalars(_tenant_like_schemas())
            if is_tenant_schema_name(name) and (node, name) not in accounted
        }
        existing = set(
            node_conn.scalars(
                sa.select(_NAMESPACE.c.nspname).where(
                    _NAMESPACE.c.nspname.in_([t.schema_name for t in tenants])
                )
            )
        )
    problems = [
        Problem(ProblemKind.PENDING_DROP, name, node=node) for name in sorted(pending)
    ]
    named = {tenant.schema_name for tenant in tenants}
    problems += [
        Problem(ProblemKind.SCHEMA_WITHOUT_TENANT, name, node=node)
        for name in sorted(looks - named - pending)
    ]
    problems += [
        Problem(ProblemKind.TENANT_WITHOUT_SCHEMA, t.schema_name, t.domain, node=node)
        for t in tenants
        if t.schema_name not in existing and (node, t.schema_name) not in accounted
    ]
    checkable = [t for t in tenants if t.schema_name in looks]
    for start in range(0, len(checkable), TENANTS_PER_TRANSACTION):
        with node_conn.begin():
            problems += _revision_mismatches(
                node, node_conn, checkable[start : start + TENANTS_PER_TRANSACTION]
            )
    return NodeFindings(problems, checkable)


def _control_plane(node: str) -> tuple[list[TenantOnNode], set[str]]:
    with db.engine.connect() as conn:
        tenants = [
            TenantOnNode(*row)
            for row in conn.execute(
                sa.select(
                    Tenant.id, Tenant.domain, Tenant.schema_name, Tenant.schema_revision
                )
                .where(Tenant.node == node)
                .order_by(Tenant.domain)
            )
        ]
        pending = set(
            conn.scalars(
                sa.select(PendingDrop.schema_name).where(PendingDrop.node == node)
            )
        )
    return tenants, pending


def _tenant_like_schemas() -> sa.Select[str]:
    tables = sorted([*TenantModel.metadata.tables, revisions.VERSION_TABLE])
    table_count = (
        sa.select(sa.func.count())
        .where(
            _CLASS.c.relnamespace == _NAMESPACE.c.oid,
            _CLASS.c.relkind == "r",
            _CLASS.c.relname.in_(tables),
        )
        .scalar_subquery()
    )
    return sa.select(_NAMESPACE.c.nspname).where(table_count == len(tables))


def _revision_mismatches(
    node: str, node_conn: sa.Connection, tenants: Sequence[TenantOnNode]
) -> Iterator[Problem]:
    # One round trip for the batch: every schema's alembic_version at once.
    found = revisions.read_revisions(node_conn, (t.schema_name for t in tenants))
    for tenant in tenants:
        actual = found[tenant.schema_name]
        if actual != tenant.revision:
            yield Problem(
                ProblemKind.REVISION_MISMATCH,
                tenant.schema_name,
                tenant.domain,
                f"public says {tenant.revision or 'none'}, "
                f"the db schema {actual or 'none'}",
                node=node,
            )


def is_tenant_schema_name(name: str) -> bool:
    return bool(SCHEMA_NAME_RE.fullmatch(name)) and not is_reserved_schema_name(name)


def repair_schema(problem: Problem) -> Repair:
    """Repair a schema problem on its node, under the tenant's lock there.

    The node commits first; what the control plane records follows, and a
    crash in between leaves a revision mismatch, found and fixed next time.
    An orphan schema is dropped only if its tenant tables are empty; one
    listed for a drop is dropped whatever it holds.
    """
    if not is_tenant_schema_name(problem.schema_name):
        return Repair(problem, False, "not a tenant db schema name: left alone")
    if any(
        problem.schema_name in (move.schema_name, move.fenced_name)
        for move in every_move()
    ):
        return Repair(problem, False, "a move not yet undone holds it")
    with node_engine(problem.node).connect() as node_conn, node_conn.begin():
        lock_tenant(node_conn, problem.schema_name)
        named = _named_by_tenant(problem.node, problem.schema_name)
        repaired, record = _repair_on_node(node_conn, problem, named=named)
    if repaired.fixed and problem.kind is ProblemKind.PENDING_DROP:
        with db.engine.begin() as conn:
            conn.execute(
                sa.delete(PendingDrop).where(
                    PendingDrop.node == problem.node,
                    PendingDrop.schema_name == problem.schema_name,
                )
            )
    if record is not None:
        with db.engine.begin() as conn:
            revisions.record_revision(conn, problem.schema_name, record.revision)
    return repaired


def _repair_on_node(
    node_conn: sa.Connection,
    problem: Problem,
    *,
    named: bool,
) -> tuple[Repair, _Record | None]:
    """Repair on the node; also return what to record in the control plane."""
    exists = schema_exists(node_conn, problem.schema_name)
    if problem.kind is ProblemKind.TENANT_WITHOUT_SCHEMA:
        if not named:
            return Repair(problem, True, "the tenant is gone from this node"), None
        if exists:
            return Repair(problem, True, "the db schema exists again"), None
        node_conn.execute(sa.schema.CreateSchema(problem.schema_name))
        built = build_schema(node_conn, problem.schema_name)
        note = "created the db schema at the newest revision"
        return Repair(problem, True, note), _Record(built)
    if problem.kind is ProblemKind.REVISION_MISMATCH:
        if not named or not exists:
            return Repair(problem, True, "the tenant or its schema is gone"), None
        revision = revisions.read_revision_if_stamped(node_conn, problem.schema_name)
        note = f"recorded revision {revision or 'none'}"
        return Repair(problem, True, note), _Record(revision)
    if named:
        return Repair(problem, True, "a tenant row of this node names it now"), None
    if not exists:
        return Repair(problem, True, "the db schema is gone"), None
    return _drop_unnamed(node_conn, problem), None


def _drop_unnamed(node_conn: sa.Connection, problem: Problem) -> Repair:
    name = problem.schema_name
    if problem.kind is ProblemKind.SCHEMA_WITHOUT_TENANT:
        bind_connection(node_conn, name)
        for table in TenantModel.metadata.sorted_tables:
            if node_conn.scalar(sa.select(sa.exists().select_from(table))):
                return Repair(problem, False, f"left in place: {table.name} holds rows")
    node_conn.execute(sa.schema.DropSchema(name, cascade=True))
    if problem.kind is ProblemKind.SCHEMA_WITHOUT_TENANT:
        return Repair(problem, True, "dropped the empty db schema")
    return Repair(problem, True, "dropped the db schema of the deleted tenant")


def _named_by_tenant(node: str, schema_name: str) -> bool:
    # Read after the node's lock is held: a create or drop in progress holds
    # it until its node commits, so what the control plane says is final.
    with db.engine.connect() as conn:
        return bool(
            conn.scalar(
                sa.select(
                    sa.exists().where(
                        Tenant.schema_name == schema_name, Tenant.node == node
                    )
                )
            )
        )
