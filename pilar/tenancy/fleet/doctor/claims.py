"""The doctor's number checks: ``public.claimed_numbers`` against the rows on each node.

A claim commits before the row that holds it (``pilar.tenancy.claims``), so a
claim younger than the grace period may belong to a row whose transaction is
still open: only older ones are reported. A claim is deleted only if its row
does not hold the number when the repair looks again; a row's missing claim
is written only if no other row has claimed the number meanwhile.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from collections.abc import Sequence

import psycopg
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from pilar.db.extensions import db
from pilar.models import ClaimedNumber
from pilar.models import NumberKind
from pilar.models import Tenant
from pilar.tenancy.claims import number_holders
from pilar.tenancy.fleet.doctor.problems import NumberRef
from pilar.tenancy.fleet.doctor.problems import Problem
from pilar.tenancy.fleet.doctor.problems import ProblemKind
from pilar.tenancy.fleet.doctor.problems import Repair
from pilar.tenancy.fleet.doctor.schemas import TENANTS_PER_TRANSACTION
from pilar.tenancy.fleet.doctor.schemas import TenantOnNode
from pilar.tenancy.fleet.doctor.schemas import node_engine

# A claim's columns, in NumberRef's order.
_CLAIM = (
    ClaimedNumber.kind,
    ClaimedNumber.value,
    ClaimedNumber.tenant_id,
    ClaimedNumber.owner_id,
)


def find_claim_problems(
    node: str,
    node_conn: sa.Connection,
    tenants: Sequence[TenantOnNode],
    grace_seconds: float,
) -> list[Problem]:
    """Return the claims of ``tenants`` (all on ``node``) that disagree with rows."""
    by_id = {tenant.id: tenant for tenant in tenants}
    # Rows first: a row seen committed had its claim committed before it, so
    # the claims read next include it.
    held: dict[tuple[NumberKind, str], NumberRef] = {}
    for start in range(0, len(tenants), TENANTS_PER_TRANSACTION):
        with node_conn.begin():
            batch = tenants[start : start + TENANTS_PER_TRANSACTION]
            for ref in _held(node_conn, batch):
                held[ref.kind, ref.value] = ref
    claims = _claims(node, grace_seconds)
    problems = []
    for (kind, value), (claim, is_old) in sorted(claims.items()):
        tenant = by_id.get(claim.tenant_id)
        if tenant is not None and is_old and held.get((kind, value)) != claim:
            problems.append(
                _problem(ProblemKind.CLAIM_WITHOUT_ROW, claim, tenant, node)
            )
    unclaimed = {
        key: ref
        for key, ref in held.items()
        if key not in claims or claims[key][0] != ref
    }
    elsewhere = _claimed_elsewhere(list(unclaimed))
    for key, ref in sorted(unclaimed.items()):
        found = claims.get(key, (elsewhere.get(key), False))[0]
        detail = "not claimed" if found is None else "claimed for another row"
        tenant = by_id[ref.tenant_id]
        problems.append(
            _problem(ProblemKind.ROW_WITHOUT_CLAIM, ref, tenant, node, detail)
        )
    return problems


def _claimed_elsewhere(
    keys: Sequence[tuple[NumberKind, str]],
) -> dict[tuple[NumberKind, str], NumberRef]:
    """Return the claims of ``keys`` by tenants of any node."""
    if not keys:
        return {}
    with db.engine.connect() as conn:
        rows = conn.execute(
            sa.select(*_CLAIM).where(
                sa.tuple_(ClaimedNumber.kind, ClaimedNumber.value).in_(keys)
            )
        )
        return {(row.kind, row.value): NumberRef(*row) for row in rows}


def _problem(
    kind: ProblemKind,
    ref: NumberRef,
    tenant: TenantOnNode,
    node: str,
    detail: str = "",
) -> Problem:
    said = f"{ref.kind.value} {ref.value!r} of row {ref.owner_id}"
    return Problem(
        kind,
        tenant.schema_name,
        tenant.domain,
        f"{said}: {detail}" if detail else said,
        node=node,
        number=ref,
    )


def _claims(
    node: str, grace_seconds: float
) -> dict[tuple[NumberKind, str], tuple[NumberRef, bool]]:
    """Return the claims of the node's tenants, each with whether it is past grace."""
    cutoff = sa.func.now() - dt.timedelta(seconds=grace_seconds)
    with db.engine.connect() as conn:
        rows = conn.execute(
            sa.select(*_CLAIM, ClaimedNumber.created_at < cutoff)
            .join(Tenant, Tenant.id == ClaimedNumber.tenant_id)
            .where(Tenant.node == node)
        )
        return {
            (kind, value): (NumberRef(kind, value, tenant_id, owner_id), is_old)
            for kind, value, tenant_id, owner_id, is_old in rows
        }


def _held(
    node_conn: sa.Connection, tenants: Sequence[TenantOnNode]
) -> Iterator[NumberRef]:
    # One round trip for the batch: every number of every schema at once.
    tenant_ids = {tenant.schema_name: tenant.id for tenant in tenants}
    selects = []
    for tenant in tenants:
        holders = number_holders(tenant.schema_name).subquery()
        selects.append(
            sa.select(
                sa.literal(tenant.schema_name, sa.String).label("schema_name"),
                holders.c.kind,
                holders.c.value,
                holders.c.owner_id,
            )
        )
    for schema_name, kind, value, owner_id in node_conn.execute(sa.union_all(*selects)):
        yield NumberRef(NumberKind(kind), value, tenant_ids[schema_name], owner_id)


def repair_claim(problem: Problem, grace_seconds: float) -> Repair:
    """Delete a claim no row holds, or claim a number for the row that holds it."""
    ref = problem.number
    if ref is None:
        raise ValueError("Not a problem of a number.")
    holds = _row_holds(problem, ref)
    if problem.kind is ProblemKind.CLAIM_WITHOUT_ROW:
        if holds:
            return Repair(problem, True, "the row holds it now")
        cutoff = sa.func.now() - dt.timedelta(seconds=grace_seconds)
        with db.engine.begin() as conn:
            deleted = conn.execute(
                sa.delete(ClaimedNumber).where(
                    ClaimedNumber.kind == ref.kind,
                    ClaimedNumber.value == ref.value,
                    ClaimedNumber.tenant_id == ref.tenant_id,
                    ClaimedNumber.owner_id == ref.owner_id,
                    ClaimedNumber.created_at < cutoff,
                )
            ).rowcount
        return Repair(problem, True, "deleted the claim" if deleted else "it is gone")
    if not holds:
        return Repair(problem, True, "the row no longer holds it")
    with db.engine.begin() as conn:
        claimed = conn.execute(
            postgresql.insert(ClaimedNumber)
            .values(
                kind=ref.kind,
                value=ref.value,
                tenant_id=ref.tenant_id,
                owner_id=ref.owner_id,
            )
            .on_conflict_do_nothing()
            .returning(ClaimedNumber.value)
        ).scalar()
        if claimed is not None:
            return Repair(problem, True, "claimed it for the row")
        holder = conn.execute(
            sa.select(ClaimedNumber.tenant_id, ClaimedNumber.owner_id).where(
                ClaimedNumber.kind == ref.kind, ClaimedNumber.value == ref.value
            )
        ).one_or_none()
    if holder is not None and tuple(holder) == (ref.tenant_id, ref.owner_id):
        return Repair(problem, True, "it is claimed for the row now")
    return Repair(
        problem,
        False,
        "left in place: another row has claimed it; change one of the two numbers",
    )


def _row_holds(problem: Problem, ref: NumberRef) -> bool:
    holders = number_holders(problem.schema_name).subquery()
    statement = sa.select(holders.c.value).where(
        holders.c.kind == ref.kind.value, holders.c.owner_id == ref.owner_id
    )
    try:
        with node_engine(problem.node).connect() as node_conn:
            values = node_conn.scalars(statement).all()
    except sa.exc.ProgrammingError as error:
        if isinstance(error.orig, psycopg.errors.UndefinedTable):
            return False  # the tenant's schema is gone
        raise
    return ref.value in values
