"""The doctor's move checks: moves that stopped before their switch, and our
replication objects that no running move owns.

A replication slot left behind keeps the source's WAL forever, so every node
is searched for the publications, slots and subscriptions a move names after
its tenant. A move that is running holds its move lock and is left alone.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import sqlalchemy as sa

from pilar.tenancy.fleet.doctor.problems import Problem
from pilar.tenancy.fleet.doctor.problems import ProblemKind
from pilar.tenancy.fleet.doctor.problems import Repair
from pilar.tenancy.fleet.moves import cleanup
from pilar.tenancy.fleet.moves import replication
from pilar.tenancy.fleet.moves import state
from pilar.tenancy.fleet.moves.links import autocommit

_DROPS: dict[str, Callable[[sa.Connection, str], None]] = {
    "subscription": replication.stop_subscription,
    "slot": replication.drop_slot,
    "publication": replication.drop_publication,
}


def find_move_problems() -> tuple[list[Problem], set[tuple[str, str]]]:
    """Return interrupted moves, and the (node, schema) pairs they account for.

    The schemas a move made or renamed are its own to undo: the schema
    checks leave them out.
    """
    problems = []
    accounted: set[tuple[str, str]] = set()
    for move in state.every_move():
        accounted.add((move.target_node, move.schema_name))
        if move.fenced_name is not None:
            # Renamed out of reach: missing under its name, not lost.
            accounted.add((move.source_node, move.fenced_name))
            accounted.add((move.source_node, move.schema_name))
        if not _is_idle(move.tenant_id):
            continue
        fenced = " after renaming its schema" if move.fenced_name else ""
        problems.append(
            Problem(
                ProblemKind.INTERRUPTED_MOVE,
                move.schema_name,
                detail=f"to {move.target_node} ({move.mode}), stopped{fenced}",
                node=move.source_node,
            )
        )
    return problems, accounted


def find_replication_leftovers(node: str, conn: sa.Connection) -> list[Problem]:
    """Return our replication objects on ``node`` that no move is using."""
    moving = {move.tenant_id for move in state.every_move()}
    problems = []
    with conn.begin():
        found = replication.leftovers(conn)
    for kind, names in found.items():
        for name in names:
            tenant_id = replication.tenant_of(name)
            if tenant_id in moving or (tenant_id and not _is_idle(tenant_id)):
                continue
            problems.append(
                Problem(ProblemKind.REPLICATION_LEFTOVER, name, detail=kind, node=node)
            )
    return problems


def repair_move(problem: Problem) -> Repair:
    """Undo an interrupted move, or drop a replication object it left."""
    if problem.kind is ProblemKind.REPLICATION_LEFTOVER:
        return _drop_leftover(problem)
    move = next(
        (
            m
            for m in state.every_move()
            if m.schema_name == problem.schema_name and m.source_node == problem.node
        ),
        None,
    )
    if move is None:
        return Repair(problem, True, "the move is gone")
    with state.move_lock(move.tenant_id) as locked:
        if not locked:
            return Repair(problem, False, "a move of this tenant is running")
        left = cleanup.undo(move, lambda message: None)
    if left:
        return Repair(problem, True, f"undone; still left: {'; '.join(left)}")
    return Repair(problem, True, "undone: the tenant stays on its node")


def _drop_leftover(problem: Problem) -> Repair:
    tenant_id = replication.tenant_of(problem.schema_name)
    if tenant_id is None:
        return Repair(problem, False, "not a name of ours")
    with state.move_lock(tenant_id) as locked:
        if not locked or state.find(tenant_id) is not None:
            return Repair(problem, False, "a move of this tenant is running")
        with autocommit(problem.node) as conn:
            _DROPS[problem.detail](conn, problem.schema_name)
    return Repair(problem, True, f"dropped the {problem.detail}")


def _is_idle(tenant_id: uuid.UUID) -> bool:
    with state.move_lock(tenant_id) as locked:
        return locked
