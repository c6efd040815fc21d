"""Moving a tenant's db schema to another node while it is being served (CONTRACT §10).

``logical`` builds the schema on the target at the tenant's revision, has
PostgreSQL's logical replication copy every row and stream what changes
(``replication``), and blocks the tenant's writes only for the switch
(``cutover``). ``block-writes`` blocks them while it copies every row with
COPY. ``auto`` takes ``logical`` when the source has ``wal_level = logical``
and the target can subscribe to it, else ``block-writes``.

A move records itself in ``public.tenant_moves`` before it creates anything,
holds the tenant's move lock throughout (``state.move_lock``), and undoes
what it made on any failure or interruption before its switch
(``cleanup.undo``); after the switch it removes the replication objects and
the old copy (``cleanup.finish``). A move killed outright is undone when run
again, or by ``flask tenants doctor --fix``.
"""

from __future__ import annotations

import dataclasses
import enum
import time
from collections.abc import Callable

import psycopg
import sqlalchemy as sa
from flask import current_app
from sqlalchemy import orm

from pilar.db.extensions import db
from pilar.errors import ConflictError
from pilar.errors import NodeUnavailableError
from pilar.errors import PilarError
from pilar.errors import TenantNotFoundError
from pilar.errors import ValidationError
from pilar.errors import first_line
from pilar.models import PendingDrop
from pilar.models import Tenant
from pilar.models import TenantMove
from pilar.tenancy import directory
from pilar.tenancy import get_nodes
from pilar.tenancy.fleet.catalog import schema_exists
from pilar.tenancy.fleet.moves import cleanup
from pilar.tenancy.fleet.moves import copying
from pilar.tenancy.fleet.moves import cutover
from pilar.tenancy.fleet.moves import replication
from pilar.tenancy.fleet.moves import state
from pilar.tenancy.fleet.moves.links import autocommit
from pilar.tenancy.fleet.moves.links import conninfo
from pilar.tenancy.fleet.provisioning import build_schema
from pilar.tenancy.fleet.provisioning import finish_pending_drop
from pilar.tenancy.fleet.revisions import read_revision
from pilar.tenancy.locks import lock_tenant
from pilar.tenancy.names import normalize_host

Progress = Callable[[str], None]
# Below this much WAL behind, the switch is tried: the catch-up under the
# write block then takes milliseconds.
CATCH_UP_BYTES = 64 * 1024
# How long writes may stay blocked while the target catches up; past it the
# switch is abandoned (writes go on on the source) and tried again.
CATCH_UP_SECONDS = 5.0
SWITCH_ATTEMPTS = 3
# How long the switch may try to block writes (a long transaction on the
# tenant holds it off) before it gives up.
BLOCK_WITHIN_SECONDS = 10.0
_POLL_SECONDS = 0.01
_PROGRESS_SECONDS = 1.0


class Mode(enum.StrEnum):
    AUTO = "auto"
    LOGICAL = "logical"
    BLOCK_WRITES = "block-writes"


class MoveError(PilarError):
    """A move that could not be made; the tenant is served from its old node."""

    code = "move_failed"


@dataclasses.dataclass(frozen=True)
class MoveSummary:
    domain: str
    source: str
    target: str
    mode: Mode
    rows: int
    seconds: float
    write_pause: float
    # What could not be removed now, for doctor --fix.
    left: list[str]


def move_tenant(
    domain: str,
    target: str,
    *,
    mode: Mode = Mode.AUTO,
    progress: Progress = lambda message: None,
) -> MoveSummary:
    """Move the tenant of ``domain`` to node ``target``; see the module docstring.

    Raises ``TenantNotFoundError``, ``ValidationError`` (an unknown node, or
    the tenant's own), ``ConflictError`` (another move of it is running),
    ``MoveError`` and ``NodeUnavailableError``; the tenant is then served
    from its old node, and nothing of the move is left but what the message
    names.
    """
    domain = normalize_host(domain)
    tenant = _tenant(domain)
    if target not in get_nodes().config.urls:
        raise ValidationError(
            f"Node {target!r} is not configured.",
            errors={"to": [f"Not one of {', '.join(get_nodes().names)}."]},
        )
    with state.move_lock(tenant.id) as locked:
        if not locked:
            raise ConflictError(f"Another move of {domain!r} is running.")
        interrupted = state.find(tenant.id)
        if interrupted is not None:
            progress(f"undoing an interrupted move to {interrupted.target_node}")
            cleanup.undo(interrupted, progress)
            tenant = _tenant(domain)
        if tenant.node == target:
            raise ValidationError(
                f"Tenant {domain!r} is on node {target!r} already.",
                errors={"to": ["The tenant's own node."]},
            )
        return _move(tenant, target, mode, progress)


def _move(tenant: Tenant, target: str, mode: Mode, progress: Progress) -> MoveSummary:
    started = time.monotonic()
    source = tenant.node
    with autocommit(source) as conn:
        infos = copying.tables(conn, tenant.schema_name)
        revision = read_revision(conn, tenant.schema_name)
        logical = replication.wal_level(conn) == "logical"
    _clear_target(target, tenant.schema_name)
    if mode is Mode.LOGICAL and not logical:
        raise MoveError(f"Node {source!r} does not have wal_level = logical.")
    chosen = Mode.LOGICAL if mode is Mode.AUTO and logical else mode
    chosen = Mode.BLOCK_WRITES if chosen is Mode.AUTO else chosen
    move = TenantMove(
        tenant_id=tenant.id,
        schema_name=tenant.schema_name,
        source_node=source,
        target_node=target,
        mode=chosen.value,
        revision=revision,
    )
    state.begin(move)
    progress(f"moving {tenant.domain} from {source} to {target} ({chosen.value})")
    try:
        if chosen is Mode.LOGICAL:
            result = _logically(move, infos, progress, fall_back=mode is Mode.AUTO)
            if result is None:
                chosen = Mode.BLOCK_WRITES
                result = _blocking_writes(move, infos, progress)
        else:
            result = _blocking_writes(move, infos, progress)
    except (sa.exc.DBAPIError, NodeUnavailableError, cutover.CutoverError) as error:
        _undo(tenant, progress)
        raise MoveError(
            f"The move failed ({_reason(error)}); {tenant.domain} stays on {source}."
        ) from error
    except BaseException:
        # Ctrl-C included: before the switch, put everything back.
        _undo(tenant, progress)
        raise
    directory().invalidate(tenant.domain)
    progress(f"switched to {target}: writes were blocked {result.write_pause:.3f} s")
    left = cleanup.finish(move, result.fenced_name, progress)
    return MoveSummary(
        tenant.domain,
        source,
        target,
        chosen,
        result.rows,
        time.monotonic() - started,
        result.write_pause,
        left,
    )


def _undo(tenant: Tenant, progress: Progress) -> None:
    begun = state.find(tenant.id)
    if begun is not None:
        left = cleanup.undo(begun, progress)
        for item in left:
            progress(f"left for doctor --fix: {item}")


def _reason(error: BaseException) -> str:
    if isinstance(error, NodeUnavailableError):
        return f"node {error.node!r} cannot be reached"
    return first_line(error)


def _tenant(domain: str) -> Tenant:
    with orm.Session(db.engine, expire_on_commit=False) as session:
        tenant = session.scalar(sa.select(Tenant).where(Tenant.domain == domain))
        if tenant is None:
            raise TenantNotFoundError(f"Tenant {domain!r} does not exist.")
        session.expunge(tenant)
        return tenant


def _clear_target(target: str, schema_name: str) -> None:
    """Drop a leftover copy listed for its drop on ``target``; refuse any other."""
    with get_nodes().engine(target).begin() as conn:
        lock_tenant(conn, schema_name)
        if not schema_exists(conn, schema_name):
            return
        with db.engine.connect() as control:
            listed = control.scalar(
                sa.select(PendingDrop.schema_name).where(
                    PendingDrop.node == target, PendingDrop.schema_name == schema_name
                )
            )
        if listed is None:
            raise MoveError(
                f"Node {target!r} has a db schema {schema_name!r} already; "
                "`flask tenants doctor` tells whose."
            )
        conn.execute(sa.schema.DropSchema(schema_name, cascade=True))
    finish_pending_drop(target, schema_name)


def _logically(
    move: TenantMove,
    infos: list[copying.TableInfo],
    progress: Progress,
    *,
    fall_back: bool,
) -> cutover.Cutover | None:
    """Move by logical replication; None when ``fall_back`` and it cannot start."""
    name = replication.object_name(move.tenant_id)
    with get_nodes().engine(move.target_node).begin() as conn:
        copying.build_copy(conn, move.schema_name, move.revision, build_schema)
    try:
        with autocommit(move.source_node) as source:
            replication.publish(source, name, move.schema_name)
        timeout = current_app.config["DB_CONNECT_TIMEOUT"]
        with replication.exported_slot(
            conninfo(move.source_node), name, timeout
        ) as snapshot:
            _copy_at(move, infos, snapshot, progress)
        with autocommit(move.target_node) as target:
            replication.subscribe(target, name, conninfo(move.source_node))
    except (
        sa.exc.DBAPIError,
        psycopg.Error,
        replication.ReplicationError,
        NodeUnavailableError,
    ) as error:
        if not fall_back:
            raise MoveError(
                f"Logical replication could not start: {_reason(error)}."
            ) from None
        progress(
            f"logical replication could not start ({_reason(error)}); "
            "blocking writes instead"
        )
        cleanup.undo(move, progress)
        state.begin(move)
        return None
    for attempt in range(1, SWITCH_ATTEMPTS + 1):
        _wait_for_lag(move, name, progress)
        try:
            return cutover.run(
                move,
                infos,
                lambda source: _catch_up(move, name, source),
                lambda: _target_counts(move, infos),
                block_within=BLOCK_WITHIN_SECONDS,
            )
        except _CatchUpTimeoutError:
            progress(f"the target fell behind during switch {attempt}; trying again")
    raise MoveError("The target did not catch up within the write block.")


def _copy_at(
    move: TenantMove,
    infos: list[copying.TableInfo],
    snapshot: str,
    progress: Progress,
) -> None:
    """Copy every row as of the slot's ``snapshot``, in one target transaction."""
    with (
        get_nodes().engine(move.source_node).connect() as source,
        get_nodes().engine(move.target_node).connect() as target,
    ):
        source = source.execution_options(isolation_level="REPEATABLE READ")
        with source.begin(), target.begin():
            copying.use_snapshot(source, snapshot)
            copying.fill(source, target, move.schema_name, infos, progress)


class _CatchUpTimeoutError(Exception):
    pass


def _catch_up(move: TenantMove, name: str, source: sa.Connection) -> None:
    lsn = replication.current_lsn(source)
    deadline = time.monotonic() + CATCH_UP_SECONDS
    while not replication.has_applied(source, name, lsn):
        if time.monotonic() >= deadline:
            raise _CatchUpTimeoutError
        time.sleep(_POLL_SECONDS)
    with autocommit(move.target_node) as target:
        replication.disable_subscription(target, name)
        copying.carry_sequences(source, target, move.schema_name)


def _target_counts(move: TenantMove, infos: list[copying.TableInfo]) -> dict[str, int]:
    with autocommit(move.target_node) as target:
        return copying.count_rows(target, move.schema_name, infos)


def _wait_for_lag(move: TenantMove, name: str, progress: Progress) -> None:
    reported = 0.0
    with (
        autocommit(move.source_node) as source,
        autocommit(move.target_node) as target,
    ):
        while True:
            replication.check_errors(target, name)
            lag = replication.lag_bytes(source, name)
            if lag is None:
                raise MoveError("The replication slot on the source is gone.")
            if lag <= CATCH_UP_BYTES:
                progress(f"replication lag {lag:,} bytes: switching")
                return
            if time.monotonic() - reported >= _PROGRESS_SECONDS:
                progress(f"catching up: replication lag {lag:,} bytes")
                reported = time.monotonic()
            time.sleep(0.05)


def _blocking_writes(
    move: TenantMove, infos: list[copying.TableInfo], progress: Progress
) -> cutover.Cutover:
    with get_nodes().engine(move.target_node).connect() as target:
        transaction = target.begin()
        copying.build_copy(target, move.schema_name, move.revision, build_schema)

        def copy(source: sa.Connection) -> None:
            progress("writes blocked: copying every row")
            copying.fill(source, target, move.schema_name, infos, progress)
            copying.carry_sequences(source, target, move.schema_name)
            transaction.commit()

        return cutover.run(
            move,
            infos,
            copy,
            lambda: copying.count_rows(target, move.schema_name, infos),
            block_within=BLOCK_WITHIN_SECONDS,
        )


__all__ = ["Mode", "MoveError", "MoveSummary", "move_tenant"]
