"""Moving a tenant's db schema to another node while it is being served.

Both modes build the schema on the target at the tenant's revision and copy
every row with COPY (``copying``). ``logical`` copies as of the snapshot a new
replication slot exports, then has PostgreSQL's logical replication stream
what changed since (``replication``), and blocks the tenant's writes only for
the switch (``cutover``); see ``moves.logical``. ``block-writes`` blocks them
while it copies (``moves.blocking``). ``auto`` takes ``logical`` when the
source has ``wal_level = logical``, and falls back to ``block-writes`` when
it does not or when replication cannot start.

A move records itself in ``public.tenant_moves`` before it creates anything,
holds the tenant's move lock throughout (``state.move_lock``), and undoes
what it made on any failure or interruption before its switch
(``cleanup.undo``); after the switch it removes the replication objects and
the old copy (``cleanup.finish``). A move killed outright is undone when run
again, or by ``flask tenants doctor --fix``.
"""

from __future__ import annotations

import dataclasses
import time

import psycopg
import sqlalchemy as sa
from sqlalchemy import orm

from pilar.db.extensions import db
from pilar.errors import ConflictError
from pilar.errors import NodeUnavailableError
from pilar.errors import TenantNotFoundError
from pilar.errors import ValidationError
from pilar.models import PendingDrop
from pilar.models import Tenant
from pilar.models import TenantMove
from pilar.tenancy import directory
from pilar.tenancy import get_nodes
from pilar.tenancy.fleet.catalog import schema_exists
from pilar.tenancy.fleet.moves import blocking
from pilar.tenancy.fleet.moves import cleanup
from pilar.tenancy.fleet.moves import copying
from pilar.tenancy.fleet.moves import cutover
from pilar.tenancy.fleet.moves import logical
from pilar.tenancy.fleet.moves import replication
from pilar.tenancy.fleet.moves import state
from pilar.tenancy.fleet.moves.base import Mode
from pilar.tenancy.fleet.moves.base import MoveError
from pilar.tenancy.fleet.moves.base import Progress
from pilar.tenancy.fleet.moves.base import reason
from pilar.tenancy.fleet.moves.links import autocommit
from pilar.tenancy.fleet.provisioning import finish_pending_drop
from pilar.tenancy.fleet.revisions import read_revision
from pilar.tenancy.locks import lock_tenant
from pilar.tenancy.names import normalize_host


@dataclasses.dataclass(frozen=True)
class MoveSummary:
    """What a finished move did, for the one who ran it."""

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
        can_replicate = replication.wal_level(conn) == "logical"
    _clear_target(target, tenant.schema_name)
    if mode is Mode.LOGICAL and not can_replicate:
        raise MoveError(f"Node {source!r} does not have wal_level = logical.")
    chosen = Mode.LOGICAL if mode is Mode.AUTO and can_replicate else mode
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
            result = logical.move_logically(
                move, infos, progress, fall_back=mode is Mode.AUTO
            )
            if result is None:
                chosen = Mode.BLOCK_WRITES
                result = blocking.move_blocking_writes(move, infos, progress)
        else:
            result = blocking.move_blocking_writes(move, infos, progress)
    except (
        sa.exc.DBAPIError,
        # COPY runs on psycopg's own connections: its errors come unwrapped.
        psycopg.Error,
        NodeUnavailableError,
        cutover.CutoverError,
    ) as error:
        _undo(tenant, progress)
        raise MoveError(
            f"The move failed ({reason(error)}); {tenant.domain} stays on {source}."
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


__all__ = ["Mode", "MoveError", "MoveSummary", "move_tenant"]
