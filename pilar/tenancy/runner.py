"""Migration runs over many tenants: a plan, a transaction per tenant, parallel jobs.

A run reads every tenant's revision from ``public.tenants`` in one query and
skips those at the destination. Each other tenant is upgraded in its own
transaction, under its advisory lock and ``lock_timeout``, by sending the
revisions' SQL rendered once for the run (``pilar.tenancy.upgrades``); jobs
are then threads, since the work is the server's. A run that needs Alembic
itself (a revision that cannot be rendered) uses processes for its jobs:
Alembic's proxies are process-wide. Every tenant commits on its own, so an
interrupted run is simply run again and finishes the rest.
"""

from __future__ import annotations

import dataclasses
import functools
import multiprocessing
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from concurrent.futures import Future
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import as_completed

import sqlalchemy as sa
from alembic.util import CommandError

from pilar.models import Tenant
from pilar.tenancy import scope
from pilar.tenancy.migrations import lock_tenant
from pilar.tenancy.migrations import record_revision
from pilar.tenancy.migrations import script_directory
from pilar.tenancy.migrations import upgrade_schema
from pilar.tenancy.scope import bind_connection
from pilar.tenancy.upgrades import Upgrades

_VERSION = sa.table("alembic_version", sa.column("version_num"))
# Built once: thousands of tenants run it, and it needs no compiling after the
# first. alembic_version is found through the bound search_path.
_MOVED = (
    sa.update(_VERSION)
    .where(_VERSION.c.version_num == sa.bindparam("from_revision"))
    .values(version_num=sa.bindparam("to_revision"))
    .returning(_VERSION.c.version_num)
    .cte("moved")
)
_STAMP = (
    sa.update(Tenant)
    .where(
        Tenant.schema_name == sa.bindparam("tenant_schema"),
        sa.select(_MOVED.c.version_num).exists(),
    )
    .values(schema_revision=sa.bindparam("to_revision"))
    .returning(Tenant.schema_name)
)


@dataclasses.dataclass(frozen=True)
class TenantTarget:
    domain: str
    schema_name: str
    revision: str | None


@dataclasses.dataclass(frozen=True)
class Outcome:
    domain: str
    schema_name: str
    before: str | None
    after: str | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclasses.dataclass(frozen=True)
class Plan:
    destination: str
    pending: list[TenantTarget]
    up_to_date: list[TenantTarget]
    unknown_domains: list[str]


def plan_run(
    conn: sa.Connection, location: str, domains: Iterable[str], revision: str
) -> Plan:
    """Resolve ``revision`` and split the tenants into pending and up to date.

    One query over all tenants: the revision recorded in ``public.tenants``
    tells which are at the destination already.
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
    statement = sa.select(Tenant.domain, Tenant.schema_name, Tenant.schema_revision)
    if wanted:
        statement = statement.where(Tenant.domain.in_(wanted))
    targets = [
        TenantTarget(*row) for row in conn.execute(statement.order_by(Tenant.domain))
    ]
    known = {target.domain for target in targets}
    return Plan(
        destination=destination,
        pending=[t for t in targets if t.revision != destination],
        up_to_date=[t for t in targets if t.revision == destination],
        unknown_domains=[domain for domain in wanted if domain not in known],
    )


def migrate_tenant(
    engine: sa.Engine,
    location: str,
    target: TenantTarget,
    destination: str,
    lock_timeout: str,
    *,
    upgrades: Upgrades | None = None,
) -> Outcome:
    """Upgrade one tenant in its own transaction; never raises.

    A failure rolls the tenant back to where it was and is reported in the
    outcome, so a run goes on with the other tenants. ``upgrades`` carries
    the run's rendered SQL; without it, this call renders its own.
    """
    if upgrades is None:
        upgrades = Upgrades(location, destination, engine.dialect)
    before = target.revision
    after: str | None = upgrades.destination
    try:
        with engine.connect() as conn, conn.begin():
            lock_tenant(conn, target.schema_name, lock_timeout=lock_timeout)
            bind_connection(conn, target.schema_name)
            if not _upgrade_as_planned(conn, target, upgrades):
                before = _read_revision(conn)
                after = _upgrade(conn, target.schema_name, upgrades, before)
    # A revision script can raise anything; the tenant's transaction is rolled
    # back and the error reported, which is the point of this function.
    except Exception as err:
        message = str(err).strip().splitlines()[0] if str(err).strip() else ""
        return Outcome(
            target.domain,
            target.schema_name,
            before,
            before,
            f"{type(err).__name__}: {message}",
        )
    return Outcome(target.domain, target.schema_name, before, after)


def _upgrade_as_planned(
    conn: sa.Connection, target: TenantTarget, upgrades: Upgrades
) -> bool:
    """Upgrade in two round trips when the tenant is where the plan says.

    Moves both stamps first, in one statement that only matches if the db
    schema is at the planned revision, then sends the rendered SQL. Returns
    ``False``, having changed nothing, when that does not apply.
    """
    sql = upgrades.rendered_sql(target.revision)
    if sql is None:
        return False
    stamped = conn.execute(
        _STAMP,
        {
            "from_revision": target.revision,
            "to_revision": upgrades.destination,
            "tenant_schema": target.schema_name,
        },
    ).scalar()
    if stamped is None:
        return False
    if sql.strip():
        conn.exec_driver_sql(sql)
    return True


def _read_revision(conn: sa.Connection) -> str | None:
    # None also when a db schema has several heads: Alembic sorts those out.
    revisions = conn.scalars(sa.select(_VERSION.c.version_num)).all()
    return revisions[0] if len(revisions) == 1 else None


def _upgrade(
    conn: sa.Connection, schema_name: str, upgrades: Upgrades, before: str | None
) -> str | None:
    if before is None:
        return upgrade_schema(
            conn, schema_name, upgrades.location, upgrades.destination
        )
    current = before
    for segment in upgrades.path(before):
        if segment.sql is None:
            upgrade_schema(conn, schema_name, upgrades.location, segment.revision)
        else:
            if segment.sql.strip():
                conn.exec_driver_sql(segment.sql)
            conn.execute(
                sa.update(_VERSION)
                .where(_VERSION.c.version_num == current)
                .values(version_num=segment.revision)
            )
        current = segment.revision
    record_revision(conn, schema_name, current)
    return current


def run_plan(
    url: str,
    location: str,
    plan: Plan,
    *,
    jobs: int,
    lock_timeout: str,
    canary: int = 0,
) -> Iterator[Outcome]:
    """Migrate the plan's pending tenants; yield outcomes as they end.

    With ``canary`` K, the first K pending tenants go first, and if any of
    them fails the run stops there, leaving the others untouched.
    """
    first, rest = plan.pending[:canary], plan.pending[canary:]
    if first:
        failed = False
        for outcome in run(
            url, location, first, plan.destination, jobs=jobs, lock_timeout=lock_timeout
        ):
            failed = failed or not outcome.ok
            yield outcome
        if failed:
            return
    yield from run(
        url, location, rest, plan.destination, jobs=jobs, lock_timeout=lock_timeout
    )


def run(
    url: str,
    location: str,
    targets: list[TenantTarget],
    destination: str,
    *,
    jobs: int,
    lock_timeout: str,
) -> Iterator[Outcome]:
    """Migrate ``targets`` on ``jobs`` connections; yield outcomes as they end."""
    if not targets:
        return
    engine = _engine(url, jobs)
    try:
        with engine.connect():
            pass  # the SQL is rendered for the server's version
        upgrades = Upgrades(location, destination, engine.dialect)
        is_rendered = upgrades.is_rendered(target.revision for target in targets)
        if jobs > 1 and len(targets) > 1 and not is_rendered:
            yield from _run_in_processes(url, upgrades, targets, jobs, lock_timeout)
        else:
            migrate = functools.partial(
                migrate_tenant,
                engine,
                location,
                destination=destination,
                lock_timeout=lock_timeout,
                upgrades=upgrades,
            )
            if jobs > 1 and len(targets) > 1:
                with ThreadPoolExecutor(max_workers=jobs) as pool:
                    yield from _gather(
                        targets, lambda target: pool.submit(migrate, target)
                    )
            else:
                yield from map(migrate, targets)
    finally:
        engine.dispose()


def _gather(
    targets: list[TenantTarget], submit: Callable[[TenantTarget], Future[Outcome]]
) -> Iterator[Outcome]:
    futures = [submit(target) for target in targets]
    try:
        for future in as_completed(futures):
            yield future.result()
    finally:
        # Ctrl-C, or a consumer that stops early: tenants not yet started stay
        # as they are, and those in progress finish their own transaction.
        for future in futures:
            future.cancel()


def _run_in_processes(
    url: str,
    upgrades: Upgrades,
    targets: list[TenantTarget],
    jobs: int,
    lock_timeout: str,
) -> Iterator[Outcome]:
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=context,
        initializer=_init_worker,
        initargs=(url, upgrades.location, upgrades.destination),
    ) as pool:
        yield from _gather(
            targets,
            lambda target: pool.submit(_migrate_in_worker, target, lock_timeout),
        )


def _engine(url: str, size: int) -> sa.Engine:
    engine = sa.create_engine(
        url,
        pool_size=size,
        max_overflow=0,
        execution_options=scope.engine_execution_options(),
        connect_args={"prepare_threshold": None},
    )
    scope.install(engine)
    return engine


@dataclasses.dataclass(frozen=True)
class _Worker:
    engine: sa.Engine
    upgrades: Upgrades


_worker: _Worker | None = None


def _init_worker(url: str, location: str, destination: str) -> None:
    global _worker  # one engine and one rendering per worker process
    engine = _engine(url, 1)
    _worker = _Worker(engine, Upgrades(location, destination, engine.dialect))


def _migrate_in_worker(target: TenantTarget, lock_timeout: str) -> Outcome:
    assert _worker is not None  # noqa: S101  # set by the initializer
    return migrate_tenant(
        _worker.engine,
        _worker.upgrades.location,
        target,
        _worker.upgrades.destination,
        lock_timeout,
        upgrades=_worker.upgrades,
    )
