"""A tenant's revision: its db schema's own stamp, and the control plane's copy.

Each tenant db schema stamps its Alembic revision in its own
``alembic_version``, written in the transaction that changed the schema;
``public.tenants.schema_revision`` holds a copy, so a migration run plans
from the control plane alone and ``doctor`` can tell when the two disagree.
Every reader and writer of either is here.

Several heads are read as one string, joined by commas in sorted order, the
form both places store; a db schema with no stamp reads as ``None``.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from pilar.models import Tenant

VERSION_TABLE = "alembic_version"
# The bound db schema's, found through the transaction's search_path.
_VERSION = sa.table(VERSION_TABLE, sa.column("version_num"))
_NAMESPACE = sa.table(
    "pg_namespace", sa.column("oid"), sa.column("nspname"), schema="pg_catalog"
)
_CLASS = sa.table(
    "pg_class", sa.column("relname"), sa.column("relnamespace"), schema="pg_catalog"
)
# Built once: a migration run sends them for thousands of tenants, and they
# need no compiling after the first.
_RESTAMP = (
    sa.update(_VERSION)
    .where(_VERSION.c.version_num == sa.bindparam("from_revision"))
    .values(version_num=sa.bindparam("to_revision"))
    .returning(_VERSION.c.version_num)
)
_RESTAMPED = _RESTAMP.cte("restamped")
# Both stamps in one statement, where the control plane is the tenant's node.
_RESTAMP_AND_RECORD = (
    sa.update(Tenant)
    .where(
        Tenant.schema_name == sa.bindparam("tenant_schema"),
        sa.select(_RESTAMPED.c.version_num).exists(),
    )
    .values(schema_revision=sa.bindparam("to_revision"))
    .returning(Tenant.schema_name)
)


def read_revision(conn: sa.Connection, schema_name: str | None = None) -> str | None:
    """Return the revision stamped in a db schema's own ``alembic_version``.

    ``schema_name`` names the db schema; ``None`` reads the one bound to
    ``conn``'s transaction (``scope.bind_connection``).
    """
    version = (
        _VERSION
        if schema_name is None
        else sa.table(VERSION_TABLE, sa.column("version_num"), schema=schema_name)
    )
    return _joined(conn.scalars(sa.select(version.c.version_num)))


def read_revision_if_stamped(conn: sa.Connection, schema_name: str) -> str | None:
    """Return ``schema_name``'s revision, or ``None`` if it has no ``alembic_version``.

    For db schemas that may not be a tenant's at all, as ``doctor`` meets them.
    """
    has_version_table = conn.scalar(
        sa.select(
            sa.exists().where(
                _CLASS.c.relnamespace == _NAMESPACE.c.oid,
                _NAMESPACE.c.nspname == schema_name,
                _CLASS.c.relname == VERSION_TABLE,
            )
        )
    )
    return read_revision(conn, schema_name) if has_version_table else None


def read_revisions(
    conn: sa.Connection, schema_names: Iterable[str]
) -> dict[str, str | None]:
    """Return the revision of each of ``schema_names``, in one round trip."""
    names = list(schema_names)
    if not names:
        return {}
    versions: sa.CompoundSelect[str, str] = sa.union_all(
        *(
            sa.select(
                sa.literal(name, sa.String).label("schema_name"),
                sa.column("version_num", sa.String),
            ).select_from(sa.table(VERSION_TABLE, schema=name))
            for name in names
        )
    )
    found: dict[str, list[str]] = {name: [] for name in names}
    for schema_name, version in conn.execute(versions):
        found[schema_name].append(version)
    return {name: _joined(versions) for name, versions in found.items()}


def record_revision(
    conn: sa.Connection, schema_name: str, revision: str | None
) -> None:
    """Record in ``public.tenants`` the revision ``schema_name`` is now at.

    Call it in the transaction that moved the schema, so the two agree; on
    another node than the control plane's, right after that one commits.
    """
    conn.execute(
        sa.update(Tenant)
        .where(Tenant.schema_name == schema_name)
        .values(schema_revision=revision)
    )


def restamp(
    conn: sa.Connection,
    schema_name: str,
    from_revision: str | None,
    to_revision: str,
    *,
    record: bool,
) -> bool:
    """Move the bound db schema's stamp from ``from_revision`` to ``to_revision``.

    Only if it is at ``from_revision``: returns whether it was, having
    changed nothing otherwise. With ``record``, ``public.tenants`` (in
    ``conn``'s database) is updated in the same statement.
    """
    moved = conn.execute(
        _RESTAMP_AND_RECORD if record else _RESTAMP,
        {
            "from_revision": from_revision,
            "to_revision": to_revision,
            "tenant_schema": schema_name,
        },
    ).scalar()
    return moved is not None


def clear_stamp(conn: sa.Connection) -> None:
    """Remove the bound db schema's stamp; a copy is stamped when it is complete."""
    conn.execute(sa.delete(_VERSION))


def _joined(revisions: Iterable[str]) -> str | None:
    return ",".join(sorted(revisions)) or None
