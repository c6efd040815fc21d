"""Finding and repairing disagreements between the control plane and the nodes.

Provisioning, drops, migrations and number claims span two databases when a
tenant is on another node than ``default``, and are ordered so that a crash
between the two commits leaves only what is found here: an orphan db schema,
a schema listed for a drop that did not happen, a tenant row without its
schema, a revision recorded apart from the schema's own, a claim of a number
that no row holds (past a grace period: claims commit before their rows), a
row whose number is not claimed. A restore or a hand-run statement can leave
the same. Every node is checked; one that cannot be reached is reported and
the others are still checked.

Each repair runs in its own transactions, under the tenant's advisory lock
on its node, and checks the problem again first, so it is safe next to
requests, migration runs, creates and drops.
"""

from __future__ import annotations

from pilar.errors import first_line
from pilar.models import DEFAULT_NODE
from pilar.tenancy.fleet.doctor import claims
from pilar.tenancy.fleet.doctor import moves
from pilar.tenancy.fleet.doctor import schemas
from pilar.tenancy.fleet.doctor.problems import Problem
from pilar.tenancy.fleet.doctor.problems import ProblemKind
from pilar.tenancy.fleet.doctor.problems import Repair

__all__ = ["Problem", "ProblemKind", "Repair", "find_problems", "repair"]

_MOVE_KINDS = frozenset(
    {ProblemKind.INTERRUPTED_MOVE, ProblemKind.REPLICATION_LEFTOVER}
)


def find_problems(*, claim_grace_seconds: float) -> list[Problem]:
    """Return every problem on every node, node by node.

    Reads in short read-only transactions, so a migration run or a create
    that commits meanwhile is never taken for a disagreement (a repair checks
    again anyway). Claims younger than ``claim_grace_seconds`` are not
    reported: their row may not have committed yet.
    """
    problems, accounted = moves.find_move_problems()
    number_problems: list[Problem] = []
    for node in schemas.node_names():
        try:
            with schemas.node_engine(node).connect() as node_conn:
                found = schemas.find_schema_problems(node, node_conn, accounted)
                problems += found.problems
                problems += moves.find_replication_leftovers(node, node_conn)
                number_problems += claims.find_claim_problems(
                    node, node_conn, found.checkable, claim_grace_seconds
                )
        except schemas.UNREACHABLE as error:
            if node == DEFAULT_NODE:
                raise  # the control plane: nothing can be checked
            problems.append(
                Problem(
                    ProblemKind.NODE_UNREACHABLE,
                    "-",
                    detail=first_line(error),
                    node=node,
                )
            )
    # Stale claims go before missing ones, so that a number freed by the one
    # repair is claimed by the other in the same run.
    number_problems.sort(key=lambda p: p.kind is not ProblemKind.CLAIM_WITHOUT_ROW)
    return problems + number_problems


def repair(problem: Problem, *, claim_grace_seconds: float) -> Repair:
    """Repair ``problem`` if it is still there; see each kind's repair."""
    if problem.kind is ProblemKind.NODE_UNREACHABLE:
        return Repair(problem, False, "start the node, then run doctor again")
    if problem.kind in _MOVE_KINDS:
        return moves.repair_move(problem)
    if problem.number is not None:
        return claims.repair_claim(problem, claim_grace_seconds)
    return schemas.repair_schema(problem)
