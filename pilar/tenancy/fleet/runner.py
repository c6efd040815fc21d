"""Migration runs over many tenants on every node: a plan, a transaction per tenant.

A run reads every tenant's revision and node from ``public.tenants`` in one
query and skips those at the destination (``pilar.tenancy.fleet.planning``).
Each other tenant is upgraded in its own transaction on its node, under its
advisory lock and ``lock_timeout`` (``pilar.tenancy.fleet.tenant_upgrade``),
by sending the revisions' SQL rendered once for the run and for every node
(``pilar.tenancy.fleet.upgrades``). Nodes run at once, each with at most
``jobs`` tenants in progress; jobs are threads, since the work is the
servers'. A run that needs Alembic itself (a revision that cannot be
rendered) uses processes for its jobs: Alembic's proxies are process-wide. A
node that cannot be reached fails its own tenants at once, and the others go
on. Every tenant commits on its own, so an interrupted run is simply run
again and finishes the rest.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Iterator
from collections.abc import Mapping
from concurrent.futures import Executor
from concurrent.futures import Future
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import as_completed
from contextlib import ExitStack

import sqlalchemy as sa

from pilar.config import psycopg_url
from pilar.errors import first_line
from pilar.models import DEFAULT_NODE
from pilar.tenancy import scope
from pilar.tenancy.fleet.planning import Plan
from pilar.tenancy.fleet.planning import RunSettings
from pilar.tenancy.fleet.planning import plan_run
from pilar.tenancy.fleet.planning import run_settings
from pilar.tenancy.fleet.planning import unknown_nodes
from pilar.tenancy.fleet.tenant_upgrade import Outcome
from pilar.tenancy.fleet.tenant_upgrade import TenantTarget
from pilar.tenancy.fleet.tenant_upgrade import failed
from pilar.tenancy.fleet.tenant_upgrade import migrate_tenant
from pilar.tenancy.fleet.upgrades import Upgrades

__all__ = [
    "Outcome",
    "Plan",
    "RunSettings",
    "TenantTarget",
    "plan_run",
    "run_plan",
    "run_settings",
    "unknown_nodes",
]


def run_plan(
    settings: RunSettings, plan: Plan, *, canary: int = 0
) -> Iterator[Outcome]:
    """Migrate the plan's pending tenants; yield outcomes as they end.

    With ``canary`` K, the first K pending tenants go first, and if any of
    them fails the run stops there, leaving the others untouched.
    """
    first, rest = plan.pending[:canary], plan.pending[canary:]
    if first:
        failures = False
        for outcome in _run(settings, first, plan.destination):
            failures = failures or not outcome.ok
            yield outcome
        if failures:
            return
    yield from _run(settings, rest, plan.destination)


def _run(
    settings: RunSettings, targets: list[TenantTarget], destination: str
) -> Iterator[Outcome]:
    if not targets:
        return
    by_node: dict[str, list[TenantTarget]] = {}
    for target in targets:
        by_node.setdefault(target.node, []).append(target)
    missing = sorted(set(by_node) - set(settings.urls))
    for node in missing:
        for target in by_node.pop(node):
            yield failed(target, f"node {node!r} is not configured in PILAR_NODES")
    if not by_node:
        return
    # The control plane records every node's revisions; each node's jobs may
    # be recording at once.
    control = _engine(settings, DEFAULT_NODE, settings.jobs * len(by_node))
    try:
        with control.connect():
            pass  # the SQL is rendered for the control plane's server version
        upgrades = Upgrades(settings.location, destination, control.dialect)
        rendered = upgrades.is_rendered(target.revision for target in targets)
        if settings.jobs == 1 and len(by_node) == 1 and DEFAULT_NODE in by_node:
            only = _NodeRun(DEFAULT_NODE, control, None, upgrades, settings)
            yield from map(only.migrate, by_node[DEFAULT_NODE])
        elif rendered or settings.jobs == 1:
            yield from _in_threads(settings, by_node, control, upgrades)
        else:
            yield from _in_processes(settings, by_node, destination)
    finally:
        control.dispose()


def _in_threads(
    settings: RunSettings,
    by_node: Mapping[str, list[TenantTarget]],
    control: sa.Engine,
    upgrades: Upgrades,
) -> Iterator[Outcome]:
    with ExitStack() as stack:
        futures: list[Future[Outcome]] = []
        for node, targets in by_node.items():
            if node == DEFAULT_NODE:
                run = _NodeRun(node, control, None, upgrades, settings)
            else:
                engine = _engine(settings, node, settings.jobs)
                stack.callback(engine.dispose)
                run = _NodeRun(node, engine, control, upgrades, settings)
            pool = stack.enter_context(ThreadPoolExecutor(max_workers=settings.jobs))
            futures += [pool.submit(run.migrate, target) for target in targets]
        yield from _gather(futures)


def _in_processes(
    settings: RunSettings, by_node: Mapping[str, list[TenantTarget]], destination: str
) -> Iterator[Outcome]:
    context = multiprocessing.get_context("spawn")
    with ExitStack() as stack:
        futures: list[Future[Outcome]] = []
        for node, targets in by_node.items():
            pool: Executor = stack.enter_context(
                ProcessPoolExecutor(
                    max_workers=min(settings.jobs, len(targets)),
                    mp_context=context,
                    initializer=_init_worker,
                    initargs=(settings, node, destination),
                )
            )
            futures += [pool.submit(_migrate_in_worker, target) for target in targets]
        yield from _gather(futures)


def _gather(futures: list[Future[Outcome]]) -> Iterator[Outcome]:
    try:
        for future in as_completed(futures):
            yield future.result()
    finally:
        # Ctrl-C, or a consumer that stops early: tenants not yet started stay
        # as they are, and those in progress finish their own transaction.
        for future in futures:
            future.cancel()


class _NodeRun:
    """Migrates the tenants of one node; after a failed connection, fails the rest."""

    def __init__(
        self,
        node: str,
        engine: sa.Engine,
        control: sa.Engine | None,
        upgrades: Upgrades,
        settings: RunSettings,
    ) -> None:
        self.node = node
        self._engine = engine
        self._control = control
        self._upgrades = upgrades
        self._lock_timeout = settings.lock_timeout
        self._unreachable: str | None = None
        self._lock = threading.Lock()

    def migrate(self, target: TenantTarget) -> Outcome:
        if self._unreachable is not None:
            return failed(target, self._unreachable)
        try:
            conn = self._engine.connect()
        except sa.exc.OperationalError as err:
            with self._lock:
                self._unreachable = self._unreachable or (
                    f"node {self.node!r} cannot be reached ({first_line(err)})"
                )
            return failed(target, self._unreachable)
        with conn:
            return migrate_tenant(
                conn,
                target,
                self._upgrades,
                self._lock_timeout,
                control=self._control,
            )


def _engine(settings: RunSettings, node: str, size: int) -> sa.Engine:
    # A fixed pool: a run opens exactly the connections its jobs use.
    options = {**settings.engine_options, "pool_size": size, "max_overflow": 0}
    engine = sa.create_engine(psycopg_url(settings.urls[node]), **options)
    scope.install(engine)
    return engine


_worker: _NodeRun | None = None


def _init_worker(settings: RunSettings, node: str, destination: str) -> None:
    global _worker  # one engine (two off default) and one rendering per process
    engine = _engine(settings, node, 1)
    control = None if node == DEFAULT_NODE else _engine(settings, DEFAULT_NODE, 1)
    upgrades = Upgrades(settings.location, destination, engine.dialect)
    _worker = _NodeRun(node, engine, control, upgrades, settings)


def _migrate_in_worker(target: TenantTarget) -> Outcome:
    assert _worker is not None  # noqa: S101  # set by the initializer
    return _worker.migrate(target)
