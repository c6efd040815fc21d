"""Migration runs over many tenants: a plan, a transaction per tenant, parallel jobs."""

from __future__ import annotations

import dataclasses
import multiprocessing
from collections.abc import Iterable
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import as_completed

import sqlalchemy as sa

from pilar.models import Tenant
from pilar.tenancy import scope
from pilar.tenancy.migrations import current_revision
from pilar.tenancy.migrations import lock_tenant
from pilar.tenancy.migrations import script_directory
from pilar.tenancy.migrations import upgrade_schema
from pilar.tenancy.scope import bind_connection


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
    found = script.get_revision(revision)
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
) -> Outcome:
    """Upgrade one tenant in its own transaction; never raises.

    A failure rolls the tenant back to where it was and is reported in the
    outcome, so a run goes on with the other tenants.
    """
    before = target.revision
    try:
        with engine.connect() as conn, conn.begin():
            conn.execute(
                sa.select(sa.func.set_config("lock_timeout", lock_timeout, True))
            )
            lock_tenant(conn, target.schema_name)
            bind_connection(conn, target.schema_name)
            before = current_revision(conn)
            after = upgrade_schema(conn, target.schema_name, location, destination)
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


def run(
    url: str,
    location: str,
    targets: list[TenantTarget],
    destination: str,
    *,
    jobs: int,
    lock_timeout: str,
) -> Iterator[Outcome]:
    """Migrate ``targets`` on ``jobs`` connections; yield outcomes as they end.

    With more than one job, each runs in its own process: Alembic's proxies
    are process-wide, so threads cannot run revisions side by side.
    """
    if jobs <= 1 or len(targets) <= 1:
        engine = _engine(url)
        try:
            for target in targets:
                yield migrate_tenant(
                    engine, location, target, destination, lock_timeout
                )
        finally:
            engine.dispose()
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=context,
        initializer=_init_worker,
        initargs=(url,),
    ) as pool:
        futures = [
            pool.submit(_migrate_in_worker, location, target, destination, lock_timeout)
            for target in targets
        ]
        for future in as_completed(futures):
            yield future.result()


def _engine(url: str) -> sa.Engine:
    engine = sa.create_engine(
        url,
        pool_size=1,
        max_overflow=0,
        execution_options=scope.engine_execution_options(),
        connect_args={"prepare_threshold": None},
    )
    scope.install(engine)
    return engine


_worker_engine: sa.Engine | None = None


def _init_worker(url: str) -> None:
    global _worker_engine  # one engine per worker process
    _worker_engine = _engine(url)


def _migrate_in_worker(
    location: str, target: TenantTarget, destination: str, lock_timeout: str
) -> Outcome:
    assert _worker_engine is not None  # noqa: S101  # set by the initializer
    return migrate_tenant(_worker_engine, location, target, destination, lock_timeout)
