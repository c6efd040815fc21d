"""A move's rows in the control plane, its switch, and the lock that makes it one.

The move lock (``pilar.tenancy.locks.move_lock``) is held for the whole move:
a second move of the tenant, or ``doctor`` repairing it, finds it taken. A
killed move's connection closes and the lock goes with it, so its leftovers
become repairable at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from flask import current_app
from sqlalchemy import orm
from sqlalchemy.dialects import postgresql

from pilar.db.extensions import db
from pilar.models import DEFAULT_NODE
from pilar.models import PendingDrop
from pilar.models import Tenant
from pilar.models import TenantMove
from pilar.tenancy import locks
from pilar.tenancy.fleet.moves.links import conninfo


@contextmanager
def move_lock(tenant_id: uuid.UUID) -> Iterator[bool]:
    """Yield whether this process got the move lock of ``tenant_id``, held till exit."""
    with locks.move_lock(
        conninfo(DEFAULT_NODE),
        tenant_id,
        connect_timeout=current_app.config["DB_CONNECT_TIMEOUT"],
    ) as got:
        yield got


def fenced_name(tenant_id: uuid.UUID) -> str:
    """Return the name the source db schema is renamed to for the switch."""
    return f"pilar_moved_{tenant_id.hex[:20]}"


def find(tenant_id: uuid.UUID) -> TenantMove | None:
    """Return the move of ``tenant_id`` that began and did not switch, if any."""
    with orm.Session(db.engine, expire_on_commit=False) as session:
        move = session.get(TenantMove, tenant_id)
        if move is not None:
            session.expunge(move)
        return move


def every_move() -> list[TenantMove]:
    with orm.Session(db.engine, expire_on_commit=False) as session:
        moves = list(
            session.scalars(sa.select(TenantMove).order_by(TenantMove.started_at))
        )
        session.expunge_all()
        return moves


def begin(move: TenantMove) -> None:
    """Record that ``move`` starts building its copy on the target."""
    with db.engine.begin() as conn:
        conn.execute(
            sa.insert(TenantMove).values(
                tenant_id=move.tenant_id,
                schema_name=move.schema_name,
                source_node=move.source_node,
                target_node=move.target_node,
                mode=move.mode,
                revision=move.revision,
            )
        )


def mark_fenced(tenant_id: uuid.UUID, name: str) -> None:
    """Record, before it happens, that the source schema is renamed to ``name``."""
    with db.engine.begin() as conn:
        conn.execute(
            sa.update(TenantMove)
            .where(TenantMove.tenant_id == tenant_id)
            .values(fenced_name=name)
        )


def switch(move: TenantMove, fenced: str) -> bool:
    """Route the tenant to the target, in one control-plane commit.

    The move's row goes, and the renamed source schema is listed for its
    drop. Returns False, changing nothing, when the tenant is no longer on
    the source (dropped, or moved by other means).
    """
    with db.engine.begin() as conn:
        switched = conn.execute(
            sa.update(Tenant)
            .where(Tenant.id == move.tenant_id, Tenant.node == move.source_node)
            .values(node=move.target_node, updated_at=sa.func.now())
            .returning(Tenant.id)
        ).scalar()
        if switched is None:
            conn.rollback()
            return False
        conn.execute(
            sa.delete(TenantMove).where(TenantMove.tenant_id == move.tenant_id)
        )
        conn.execute(
            sa.insert(PendingDrop).values(node=move.source_node, schema_name=fenced)
        )
    return True


def forget(tenant_id: uuid.UUID, *, leave: tuple[str, str] | None = None) -> None:
    """Delete the move's row; ``leave`` lists a (node, schema) still to drop."""
    with db.engine.begin() as conn:
        conn.execute(sa.delete(TenantMove).where(TenantMove.tenant_id == tenant_id))
        if leave is not None:
            node, schema_name = leave
            conn.execute(
                postgresql.insert(PendingDrop)
                .values(node=node, schema_name=schema_name)
                .on_conflict_do_nothing()
            )


def tenant_node(tenant_id: uuid.UUID) -> str | None:
    """Return the node the control plane routes the tenant to now."""
    with db.engine.connect() as conn:
        node: str | None = conn.scalar(
            sa.select(Tenant.node).where(Tenant.id == tenant_id)
        )
    return node
