"""Finding and repairing disagreements between ``public.tenants`` and the db schemas.

Provisioning, drops and migrations are atomic, so these come from outside:
a restore, a hand-run ``DROP SCHEMA`` or ``DELETE``, a tool that wrote to one
side only. Only db schemas that look like a tenant's are ever considered: a
valid tenant schema name, an ``alembic_version`` table and every tenant table.
Each repair runs in its own transaction under the tenant's advisory lock and
checks the problem again first, so it is safe next to a migration run.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence

import sqlalchemy as sa

from pilar.models import Tenant
from pilar.models import TenantModel
from pilar.tenancy.migrations import lock_tenant
from pilar.tenancy.migrations import record_revision
from pilar.tenancy.names import SCHEMA_NAME_RE
from pilar.tenancy.names import is_reserved_schema_name
from pilar.tenancy.scope import bind_connection

_VERSION_TABLE = "alembic_version"
_TENANTS_PER_TRANSACTION = 500
_VERSION = sa.table(_VERSION_TABLE, sa.column("version_num"))
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


class ProblemKind(enum.Enum):
    SCHEMA_WITHOUT_TENANT = "a tenant db schema that no tenant row names"
    TENANT_WITHOUT_SCHEMA = "a tenant row whose db schema does not exist"
    REVISION_MISMATCH = "public.tenants.schema_revision disagrees with the db schema"


@dataclasses.dataclass(frozen=True)
class Problem:
    kind: ProblemKind
    schema_name: str
    domain: str | None = None
    detail: str = ""


@dataclasses.dataclass(frozen=True)
class Repair:
    problem: Problem
    fixed: bool
    note: str


def find_problems(conn: sa.Connection) -> list[Problem]:
    """Return every problem, reading in short read-only transactions on ``conn``.

    Each transaction sees one snapshot, so a migration run that commits
    meanwhile is never taken for a disagreement.
    """
    conn.execution_options(isolation_level="REPEATABLE READ")
    with conn.begin():
        problems = [*_schemas_without_tenant(conn), *_tenants_without_schema(conn)]
        schema_names = conn.scalars(
            sa.select(Tenant.schema_name).order_by(Tenant.schema_name)
        ).all()
    # Reading a table locks it until the transaction ends: thousands of
    # tenants in one transaction would run out of lock slots.
    for start in range(0, len(schema_names), _TENANTS_PER_TRANSACTION):
        with conn.begin():
            problems += _revision_mismatches(
                conn, schema_names[start : start + _TENANTS_PER_TRANSACTION]
            )
    return problems


def repair(
    engine: sa.Engine,
    problem: Problem,
    build_schema: Callable[[sa.Connection, str], str],
) -> Repair:
    """Repair ``problem`` in its own transaction, if it is still there.

    ``build_schema`` brings a new, empty db schema to the newest revision
    and returns it.
    A db schema without a tenant row is dropped only if its tenant tables are
    empty; one that holds data is left for a person to look at.
    """
    with engine.connect() as conn, conn.begin():
        lock_tenant(conn, problem.schema_name)
        if problem.kind is ProblemKind.SCHEMA_WITHOUT_TENANT:
            return _drop_orphan_schema(conn, problem)
        if problem.kind is ProblemKind.TENANT_WITHOUT_SCHEMA:
            if _schema_exists(conn, problem.schema_name):
                return Repair(problem, True, "the db schema exists again")
            conn.execute(sa.schema.CreateSchema(problem.schema_name))
            built = build_schema(conn, problem.schema_name)
            record_revision(conn, problem.schema_name, built)
            return Repair(problem, True, "created the db schema at the newest revision")
        revision = (
            _read_revision(conn, problem.schema_name)
            if _has_version_table(conn, problem.schema_name)
            else None
        )
        record_revision(conn, problem.schema_name, revision)
        return Repair(problem, True, f"recorded revision {revision or 'none'}")


def _tenant_tables() -> list[str]:
    return sorted([*TenantModel.metadata.tables, _VERSION_TABLE])


def _looks_like_tenant_schema(name: str) -> bool:
    return bool(SCHEMA_NAME_RE.fullmatch(name)) and not is_reserved_schema_name(name)


def _schemas_without_tenant(conn: sa.Connection) -> Iterator[Problem]:
    tables = _tenant_tables()
    table_count = (
        sa.select(sa.func.count())
        .where(
            _CLASS.c.relnamespace == _NAMESPACE.c.oid,
            _CLASS.c.relkind == "r",
            _CLASS.c.relname.in_(tables),
        )
        .scalar_subquery()
    )
    statement = sa.select(_NAMESPACE.c.nspname).where(
        ~sa.exists().where(Tenant.schema_name == _NAMESPACE.c.nspname),
        table_count == len(tables),
    )
    for name in conn.scalars(statement.order_by(_NAMESPACE.c.nspname)):
        if _looks_like_tenant_schema(name):
            yield Problem(ProblemKind.SCHEMA_WITHOUT_TENANT, name)


def _tenants_without_schema(conn: sa.Connection) -> Iterator[Problem]:
    statement = sa.select(Tenant.schema_name, Tenant.domain).where(
        ~sa.exists().where(_NAMESPACE.c.nspname == Tenant.schema_name)
    )
    for schema_name, domain in conn.execute(statement.order_by(Tenant.domain)):
        yield Problem(ProblemKind.TENANT_WITHOUT_SCHEMA, schema_name, domain)


def _revision_mismatches(
    conn: sa.Connection, schema_names: Sequence[str]
) -> Iterator[Problem]:
    with_version = set(
        conn.scalars(
            sa.select(_NAMESPACE.c.nspname).where(
                _CLASS.c.relnamespace == _NAMESPACE.c.oid,
                _CLASS.c.relname == _VERSION_TABLE,
                _NAMESPACE.c.nspname.in_(schema_names),
            )
        )
    )
    tenants = conn.execute(
        sa.select(Tenant.schema_name, Tenant.domain, Tenant.schema_revision).where(
            Tenant.schema_name.in_(schema_names),
            sa.exists().where(_NAMESPACE.c.nspname == Tenant.schema_name),
        )
    ).all()
    for schema_name, domain, recorded in tenants:
        actual = (
            _read_revision(conn, schema_name) if schema_name in with_version else None
        )
        if actual != recorded:
            yield Problem(
                ProblemKind.REVISION_MISMATCH,
                schema_name,
                domain,
                f"public says {recorded or 'none'}, the db schema {actual or 'none'}",
            )


def _read_revision(conn: sa.Connection, schema_name: str) -> str | None:
    bind_connection(conn, schema_name)
    revisions = conn.scalars(sa.select(_VERSION.c.version_num)).all()
    return ",".join(sorted(revisions)) or None


def _has_version_table(conn: sa.Connection, schema_name: str) -> bool:
    return bool(
        conn.scalar(
            sa.select(
                sa.exists().where(
                    _CLASS.c.relnamespace == _NAMESPACE.c.oid,
                    _NAMESPACE.c.nspname == schema_name,
                    _CLASS.c.relname == _VERSION_TABLE,
                )
            )
        )
    )


def _schema_exists(conn: sa.Connection, schema_name: str) -> bool:
    return bool(
        conn.scalar(sa.select(sa.exists().where(_NAMESPACE.c.nspname == schema_name)))
    )


def _drop_orphan_schema(conn: sa.Connection, problem: Problem) -> Repair:
    name = problem.schema_name
    if conn.scalar(sa.select(sa.exists().where(Tenant.schema_name == name))):
        return Repair(problem, True, "a tenant row names it now")
    if not _schema_exists(conn, name):
        return Repair(problem, True, "the db schema is gone")
    bind_connection(conn, name)
    for table in TenantModel.metadata.sorted_tables:
        if conn.scalar(sa.select(sa.exists().select_from(table))):
            return Repair(problem, False, f"left in place: {table.name} holds rows")
    conn.execute(sa.schema.DropSchema(name, cascade=True))
    return Repair(problem, True, "dropped the empty db schema")
