"""A migration run's plan: which tenants go to which revision, and how a run works.

The plan is read from ``public.tenants`` alone, in one query; the settings
from the app's configuration, so the worker processes of a run (which have
no app) get all they need in one picklable value.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from alembic.util import CommandError
from flask import current_app

from pilar.db.extensions import db
from pilar.models import Tenant
from pilar.tenancy import get_nodes
from pilar.tenancy import nodes
from pilar.tenancy.fleet.migrations import script_directory
from pilar.tenancy.fleet.tenant_upgrade import TenantTarget


@dataclasses.dataclass(frozen=True)
class Plan:
    """The tenants a run upgrades to ``destination``, and those it skips.

    Attributes:
        destination: the revision every pending tenant is brought to.
        pending: tenants whose recorded revision is not ``destination``.
        up_to_date: tenants already there; the run does not touch them.
        unknown_domains: domains asked for that no tenant has.
    """

    destination: str
    pending: list[TenantTarget]
    up_to_date: list[TenantTarget]
    unknown_domains: list[str]


@dataclasses.dataclass(frozen=True)
class RunSettings:
    """How a run reaches its nodes and how hard it works each one.

    Picklable: worker processes get it as it is.

    Attributes:
        urls: node name → libpq or SQLAlchemy URL; ``default`` is the
            control plane.
        location: the ``tenant_migrations/`` folder.
        jobs: tenants migrated at once on each node.
        lock_timeout: PostgreSQL ``lock_timeout`` of each tenant's
            transaction, which bounds the wait for its lock and for the
            tables its revisions alter.
        engine_options: the options every engine of the service is made
            with (``nodes.engine_options``); a run sizes each pool itself.
    """

    urls: Mapping[str, str]
    location: str
    jobs: int
    lock_timeout: str
    engine_options: Mapping[str, Any]


def run_settings(*, jobs: int) -> RunSettings:
    """Return the current app's settings for a run with ``jobs`` per node."""
    config = current_app.config
    return RunSettings(
        urls=dict(get_nodes().config.urls),
        location=config["TENANT_MIGRATIONS_DIR"],
        jobs=jobs,
        lock_timeout=config["TENANT_MIGRATION_LOCK_TIMEOUT"],
        engine_options=nodes.engine_options(config),
    )


def unknown_nodes(names: Iterable[str]) -> list[str]:
    """Return those of ``names`` that are not configured nodes, sorted."""
    return sorted(set(names) - set(get_nodes().config.urls))


def plan_run(
    location: str,
    domains: Iterable[str],
    revision: str,
    *,
    nodes: Iterable[str] = (),
) -> Plan:
    """Resolve ``revision`` and split the tenants into pending and up to date.

    One query over all tenants (of ``nodes`` only, if any are named): the
    revision recorded in ``public.tenants`` tells which are at the
    destination already.
    """
    script = script_directory(location)
    try:
        found = script.get_revision(revision)
    except CommandError:
        found = None
    if found is None:
        raise ValueError(f"Revision {revision!r} does not exist.")
    destination = found.revision
    wanted = sorted(set(domains))
    statement = sa.select(
        Tenant.domain, Tenant.schema_name, Tenant.schema_revision, Tenant.node
    )
    if wanted:
        statement = statement.where(Tenant.domain.in_(wanted))
    if chosen := sorted(set(nodes)):
        statement = statement.where(Tenant.node.in_(chosen))
    with db.engine.connect() as conn:
        rows = conn.execute(statement.order_by(Tenant.domain)).all()
    targets = [TenantTarget(*row) for row in rows]
    known = {target.domain for target in targets}
    return Plan(
        destination=destination,
        pending=[t for t in targets if t.revision != destination],
        up_to_date=[t for t in targets if t.revision == destination],
        unknown_domains=[domain for domain in wanted if domain not in known],
    )
