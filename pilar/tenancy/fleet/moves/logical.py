"""The ``logical`` mode: logical replication copies; writes pause only to switch.

The copy is built on the target at the tenant's revision; a publication and
a slot exporting its snapshot are made on the source; every row as of that
snapshot is copied with COPY; then a subscription with no copy of its own
streams what changed since. Once the target is within ``CATCH_UP_BYTES`` of
the source, ``cutover.run`` blocks writes, waits for the last changes and
switches.
"""

from __future__ import annotations

import contextlib
import time

import psycopg
import sqlalchemy as sa
from flask import current_app

from pilar.errors import NodeUnavailableError
from pilar.models import TenantMove
from pilar.tenancy import get_nodes
from pilar.tenancy.fleet.moves import cleanup
from pilar.tenancy.fleet.moves import copying
from pilar.tenancy.fleet.moves import cutover
from pilar.tenancy.fleet.moves import replication
from pilar.tenancy.fleet.moves import state
from pilar.tenancy.fleet.moves.base import MoveError
from pilar.tenancy.fleet.moves.base import Progress
from pilar.tenancy.fleet.moves.base import reason
from pilar.tenancy.fleet.moves.links import autocommit
from pilar.tenancy.fleet.moves.links import conninfo

# Below this much WAL behind, the switch is tried: the catch-up under the
# write block then takes milliseconds.
CATCH_UP_BYTES = 64 * 1024
# How long writes may stay blocked while the target catches up; past it the
# switch is abandoned (writes go on on the source) and tried again.
CATCH_UP_SECONDS = 5.0
SWITCH_ATTEMPTS = 3
_POLL_SECONDS = 0.01
_PROGRESS_SECONDS = 1.0
# What a node says when it cannot publish, export a slot or subscribe.
_CANNOT_START = (
    sa.exc.DBAPIError,
    psycopg.Error,
    replication.ReplicationError,
    NodeUnavailableError,
)


def move_logically(
    move: TenantMove,
    infos: list[copying.TableInfo],
    progress: Progress,
    *,
    fall_back: bool,
) -> cutover.Cutover | None:
    """Move by logical replication; None when ``fall_back`` and it cannot start."""
    name = replication.object_name(move.tenant_id)
    with get_nodes().engine(move.target_node).begin() as conn:
        copying.build_copy(conn, move.schema_name, move.revision)
    with contextlib.ExitStack() as slot:
        try:
            with autocommit(move.source_node) as source:
                replication.publish(source, name, move.schema_name)
            timeout = current_app.config["DB_CONNECT_TIMEOUT"]
            snapshot = slot.enter_context(
                replication.exported_slot(conninfo(move.source_node), name, timeout)
            )
        except _CANNOT_START as error:
            _cannot_start(move, error, progress, fall_back=fall_back)
            return None
        # Outside the ``try``: a copy that fails (a lost node, Ctrl-C) is no
        # reason to block writes and copy again.
        _copy_at(move, infos, snapshot, progress)
    try:
        with autocommit(move.target_node) as target:
            replication.subscribe(target, name, conninfo(move.source_node))
    except _CANNOT_START as error:
        _cannot_start(move, error, progress, fall_back=fall_back)
        return None
    for attempt in range(1, SWITCH_ATTEMPTS + 1):
        _wait_for_lag(move, name, progress)
        try:
            return cutover.run(
                move,
                infos,
                lambda source: _catch_up(move, name, source),
                lambda: _target_counts(move, infos),
            )
        except _CatchUpTimeoutError:
            progress(f"the target fell behind during switch {attempt}; trying again")
    raise MoveError("The target did not catch up within the write block.")


def _cannot_start(
    move: TenantMove, error: Exception, progress: Progress, *, fall_back: bool
) -> None:
    """Fail, or when ``fall_back`` undo what was made so writes can be blocked."""
    if not fall_back:
        raise MoveError(
            f"Logical replication could not start: {reason(error)}."
        ) from None
    progress(
        f"logical replication could not start ({reason(error)}); "
        "blocking writes instead"
    )
    cleanup.undo(move, progress)
    state.begin(move)


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
