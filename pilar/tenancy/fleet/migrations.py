"""Running ``tenant_migrations/`` inside one tenant db schema, through Alembic's API.

Alembic installs its ``context`` and ``op`` proxies process-wide, so runs in
one process are serialised by a lock; parallel runs either send SQL rendered
here once (``render_upgrade``) or use processes (``pilar.tenancy.fleet.runner``).

A revision whose ``upgrade()`` must see the database as it runs (it reads
rows, or decides what to do from what it finds) says so with a module-level
``online_only = True``: it is never rendered, and always runs through Alembic.
"""

from __future__ import annotations

import functools
import io
import logging
import os
import threading
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic.config import Config
from alembic.operations import Operations
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import Script
from alembic.script import ScriptDirectory

from pilar.models import TenantModel
from pilar.tenancy.fleet.revisions import read_revision
from pilar.tenancy.fleet.revisions import record_revision
from pilar.tenancy.scope import bind_connection

logger = logging.getLogger(__name__)

_ALEMBIC_LOCK = threading.RLock()


@functools.lru_cache(maxsize=8)
def script_directory(location: str) -> ScriptDirectory:
    """Return the parsed tenant script directory at ``location``; parsed once."""
    return ScriptDirectory.from_config(alembic_config(location))


def alembic_config(location: str, conn: sa.Connection | None = None) -> Config:
    """Return an Alembic config for the tenant env, handing it ``conn``."""
    config = Config(os.path.join(location, "alembic.ini"))
    config.set_main_option("script_location", location)
    config.attributes["connection"] = conn
    return config


def head_revision(location: str) -> str:
    head = script_directory(location).get_current_head()
    if head is None:
        raise RuntimeError(f"No tenant migrations in {location!r}.")
    return head


def upgrade_schema(
    conn: sa.Connection,
    schema_name: str,
    location: str,
    destination: str = "head",
    *,
    record: bool = True,
) -> str | None:
    """Upgrade ``schema_name`` to ``destination`` in ``conn``'s transaction.

    Binds the db schema to the transaction, runs the revisions, and (with
    ``record``) records the new revision in ``public.tenants`` too, which only
    the control plane's database has. Commits nothing: the caller's
    transaction makes it atomic. Returns the revision reached.
    """
    script = script_directory(location)
    return _run_to(
        conn, schema_name, location, script._upgrade_revs, destination, record
    )


def downgrade_schema(
    conn: sa.Connection, schema_name: str, location: str, destination: str
) -> str | None:
    """Downgrade ``schema_name`` to ``destination``; as ``upgrade_schema``."""
    script = script_directory(location)
    return _run_to(
        conn, schema_name, location, script._downgrade_revs, destination, True
    )


def _run_to(
    conn: sa.Connection,
    schema_name: str,
    location: str,
    steps: Callable[[str, Any], Any],
    destination: str,
    record: bool,
) -> str | None:
    # ``steps`` is the script directory's list of revisions from the current
    # one to ``destination``, upward or downward.
    bind_connection(conn, schema_name)

    def run(rev: Any, context: Any) -> Any:  # Alembic's callback signature
        return steps(destination, rev)

    _run_env(
        conn, location, script_directory(location), run, destination_rev=destination
    )
    reached = read_revision(conn)
    if record:
        record_revision(conn, schema_name, reached)
    return reached


def render_upgrade(script: Script, dialect: sa.Dialect) -> str | None:
    """Return the SQL of ``script``'s ``upgrade()``, naming no db schema.

    Rendered in Alembic's offline mode, to be run with a tenant's db schema
    bound; the version stamp is not included. Returns ``None`` for a revision
    marked ``online_only`` or one that cannot be rendered offline (it used
    what the database answered): such a revision runs through Alembic.
    """
    if getattr(script.module, "online_only", False):
        return None
    output = io.StringIO()
    context = MigrationContext.configure(
        dialect=dialect,
        opts={"as_sql": True, "output_buffer": output, "literal_binds": True},
    )
    try:
        with _ALEMBIC_LOCK, Operations.context(context):
            script.module.upgrade()
    # Offline, a revision that reads from the database gets nothing back and
    # fails in its own way; running it online is always correct.
    except Exception as err:
        logger.warning(
            "Tenant revision %s cannot be rendered offline (%s: %s); it runs "
            "through Alembic.",
            script.revision,
            type(err).__name__,
            err,
        )
        return None
    return output.getvalue()


def _run_env(
    conn: sa.Connection,
    location: str,
    script: ScriptDirectory,
    fn: Callable[[Any, Any], Any],
    **kwargs: Any,
) -> None:
    with (
        _ALEMBIC_LOCK,
        EnvironmentContext(alembic_config(location, conn), script, fn=fn, **kwargs),
    ):
        script.run_env()


def run_env(context: Any) -> None:
    """Body of ``tenant_migrations/env.py``; ``context`` is ``alembic.context``.

    The connection comes from ``config.attributes`` with the tenant already
    bound, inside a transaction the caller owns.
    """
    conn = context.config.attributes.get("connection")
    if conn is None:
        raise RuntimeError(
            "Tenant migrations run through `flask tenants migrate`, not `alembic`."
        )
    context.configure(
        connection=conn,
        target_metadata=TenantModel.metadata,
        compare_type=True,
        transaction_per_migration=False,
        include_name=_include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


def _include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    # The tenant env only ever looks at the bound tenant db schema (``None``).
    return type_ != "schema" or name is None


def autogenerate_revision(
    conn: sa.Connection, schema_name: str, location: str, message: str
) -> list[Script | None]:
    """Write a revision comparing the tenant models with ``schema_name``."""
    from alembic import command

    bind_connection(conn, schema_name)
    with _ALEMBIC_LOCK:
        result = command.revision(
            alembic_config(location, conn), message=message, autogenerate=True
        )
    return result if isinstance(result, list) else [result]


def check_schema(conn: sa.Connection, schema_name: str, location: str) -> None:
    """Raise ``alembic.util.AutogenerateDiffsDetected`` if models and schema differ."""
    from alembic import command

    bind_connection(conn, schema_name)
    with _ALEMBIC_LOCK:
        command.check(alembic_config(location, conn))
