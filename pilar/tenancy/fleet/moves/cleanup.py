"""Undoing a move that did not switch, and finishing one that did.

Both are run by the move itself (on a failure, on Ctrl-C, or after its
switch), by the move run again, and by ``doctor --fix``; every step checks
what is there first, so each may be run any number of times. The caller
holds the move lock (``state.move_lock``).

What cannot be reached now is left for later, never forgotten: an
unreachable target's copy is listed in ``pending_drops``, and replication
objects, named after the tenant, are found by ``doctor`` by their name.
"""

from __future__ import annotations

import sqlalchemy as sa

from pilar.errors import NodeUnavailableError
from pilar.models import TenantMove
from pilar.tenancy import get_nodes
from pilar.tenancy.fleet.catalog import schema_exists
from pilar.tenancy.fleet.moves import replication
from pilar.tenancy.fleet.moves import state
from pilar.tenancy.fleet.moves.base import Progress
from pilar.tenancy.fleet.moves.links import autocommit
from pilar.tenancy.fleet.moves.links import rename_schema
from pilar.tenancy.fleet.provisioning import finish_pending_drop
from pilar.tenancy.locks import lock_tenant

# What a node out of reach or failing raises.
_FAILURES = (sa.exc.DBAPIError, NodeUnavailableError)


def undo(move: TenantMove, progress: Progress) -> list[str]:
    """Put the tenant back as it was before ``move``; return what was left behind.

    The source comes first, since the tenant is served there: a renamed db
    schema gets its name back. Raises when that fails (the source is out of
    reach: the tenant is down until it is back, and then this is run again).
    """
    if move.fenced_name is not None:
        _unfence(move.source_node, move.schema_name, move.fenced_name)
        progress(f"gave {move.schema_name} back its name on {move.source_node}")
    left = _drop_replication(move, progress)
    copy_left = None
    if state.tenant_node(move.tenant_id) != move.target_node:
        try:
            with get_nodes().engine(move.target_node).begin() as conn:
                lock_tenant(conn, move.schema_name)
                conn.execute(
                    sa.schema.DropSchema(move.schema_name, cascade=True, if_exists=True)
                )
        except _FAILURES:
            copy_left = (move.target_node, move.schema_name)
            left.append(f"the copy on {move.target_node} (doctor --fix drops it)")
    state.forget(move.tenant_id, leave=copy_left)
    return left


def finish(move: TenantMove, fenced: str, progress: Progress) -> list[str]:
    """Remove what a switched move leaves on both nodes; return what is left."""
    left = _drop_replication(move, progress)
    try:
        with get_nodes().engine(move.source_node).begin() as conn:
            lock_tenant(conn, fenced)
            conn.execute(sa.schema.DropSchema(fenced, cascade=True, if_exists=True))
        finish_pending_drop(move.source_node, fenced)
        progress(f"dropped the old copy from {move.source_node}")
    except _FAILURES:
        left.append(f"the old copy on {move.source_node} (doctor --fix drops it)")
    return left


def _unfence(node: str, schema_name: str, fenced: str) -> None:
    with get_nodes().engine(node).begin() as conn:
        lock_tenant(conn, schema_name)
        if schema_exists(conn, fenced) and not schema_exists(conn, schema_name):
            rename_schema(conn, fenced, schema_name)


def _drop_replication(move: TenantMove, progress: Progress) -> list[str]:
    name = replication.object_name(move.tenant_id)
    left: list[str] = []
    try:
        with autocommit(move.target_node) as target:
            replication.stop_subscription(target, name)
    except _FAILURES:
        left.append(f"the subscription on {move.target_node}")
    try:
        with autocommit(move.source_node) as source:
            replication.drop_slot(source, name)
            replication.drop_publication(source, name)
    except _FAILURES:
        left.append(f"the replication slot and publication on {move.source_node}")
    if not left:
        progress("removed the replication objects")
    return left
