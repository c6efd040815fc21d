"""What stands in the way of an import: every conflict, found at once.

A tenant's domain, db schema name and id are unique, and so is each number
it holds across all tenants. An import checks them all before it loads
anything, so that it can refuse with the full list, and checks them again
as it writes the control plane's rows.
"""

from __future__ import annotations

import dataclasses
import uuid

import sqlalchemy as sa

from pilar.db.extensions import db
from pilar.errors import ConflictError
from pilar.models import ClaimedNumber
from pilar.models import Tenant
from pilar.tenancy import get_nodes
from pilar.tenancy.fleet.archive.manifest import HeldNumber
from pilar.tenancy.fleet.catalog import schema_exists


@dataclasses.dataclass(frozen=True)
class Target:
    """Where an import puts the tenant: its id, domain, db schema name and node."""

    id: uuid.UUID
    domain: str
    schema_name: str
    node: str


def find_conflicts(
    target: Target, numbers: tuple[HeldNumber, ...]
) -> dict[str, list[str]]:
    """Return what stands in the way of ``target``, by field; empty when nothing.

    Looks in the control plane and in the target node's catalog.
    """
    with db.engine.connect() as conn:
        conflicts = control_plane_conflicts(conn, target, numbers)
    if "schema_name" not in conflicts:
        with get_nodes().engine(target.node).connect() as node_conn:
            if schema_exists(node_conn, target.schema_name):
                conflicts["schema_name"] = [
                    f"A db schema {target.schema_name!r} exists on node "
                    f"{target.node!r}."
                ]
    return conflicts


def control_plane_conflicts(
    conn: sa.Connection, target: Target, numbers: tuple[HeldNumber, ...]
) -> dict[str, list[str]]:
    """Return the conflicts of ``target`` in the control plane, read on ``conn``."""
    conflicts: dict[str, list[str]] = {}
    taken = conn.execute(
        sa.select(Tenant.id, Tenant.domain, Tenant.schema_name).where(
            sa.or_(
                Tenant.id == target.id,
                Tenant.domain == target.domain,
                Tenant.schema_name == target.schema_name,
            )
        )
    )
    for tenant_id, domain, schema_name in taken:
        if domain == target.domain:
            conflicts.setdefault("domain", []).append(f"{domain!r} is taken.")
        if schema_name == target.schema_name:
            conflicts.setdefault("schema_name", []).append(
                f"{schema_name!r} is taken by tenant {domain!r}."
            )
        if tenant_id == target.id:
            conflicts.setdefault("id", []).append(
                f"Tenant id {str(tenant_id)!r} is taken by tenant {domain!r}."
            )
    claimed = conn.execute(
        sa.select(ClaimedNumber.kind, ClaimedNumber.value, Tenant.domain)
        .join(Tenant, Tenant.id == ClaimedNumber.tenant_id)
        .where(
            sa.tuple_(ClaimedNumber.kind, ClaimedNumber.value).in_(
                [(n.kind, n.value) for n in numbers]
            )
        )
        .order_by(ClaimedNumber.kind, ClaimedNumber.value)
    )
    for kind, value, domain in claimed:
        conflicts.setdefault("numbers", []).append(
            f"{kind.value} {value!r} is claimed by tenant {domain!r}."
        )
    return conflicts


def refuse_conflicts(conflicts: dict[str, list[str]], target: Target) -> None:
    """Raise ``ConflictError`` listing ``conflicts``, if there are any."""
    if conflicts:
        count = sum(len(messages) for messages in conflicts.values())
        raise ConflictError(
            f"Tenant {target.domain!r} cannot be imported: {count} "
            f"conflict{'s' if count > 1 else ''}; nothing was created.",
            errors=conflicts,
        )
