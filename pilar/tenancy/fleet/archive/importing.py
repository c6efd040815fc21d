"""Importing a tenant from an archive, atomically, as a create does.

The db schema is built at the archive's revision, its rows loaded, and the
schema upgraded to the newest revision, in one transaction on the target
node. On ``default`` the control plane's rows (tenant, users, integrations,
claims of its numbers) are written in that same transaction. On another node
the steps are ordered as ``pilar.tenancy.fleet.provisioning`` orders a create: the
node's transaction, holding the tenant's advisory lock, stays open while the
control plane commits its rows, and commits last; if it fails, the rows are
deleted again. A crash between the two commits leaves a tenant row without
its db schema, which ``flask tenants doctor --fix`` builds empty (and its
claims, which it deletes); dropping that tenant and importing again
restores it.

Conflicts (domain, schema name, tenant id, a number claimed by another
tenant) are all reported at once, before anything is loaded, and checked
again when the rows are written.

This module owns the import as one operation: what is checked before
anything is loaded (the archive's revision, the target's names and node,
the conflicts), and which transactions the loading runs in and the order
they commit, which is what makes it all or nothing. The loading itself is
``loading``'s.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from flask import current_app

from pilar.db.extensions import db
from pilar.errors import ArchiveError
from pilar.errors import ValidationError
from pilar.models import DEFAULT_NODE
from pilar.models import Tenant
from pilar.tenancy import directory
from pilar.tenancy import get_nodes
from pilar.tenancy.fleet import provisioning
from pilar.tenancy.fleet.archive.conflicts import Target
from pilar.tenancy.fleet.archive.conflicts import find_conflicts
from pilar.tenancy.fleet.archive.conflicts import refuse_conflicts
from pilar.tenancy.fleet.archive.loading import load_schema
from pilar.tenancy.fleet.archive.loading import write_control_plane
from pilar.tenancy.fleet.archive.manifest import Manifest
from pilar.tenancy.fleet.archive.reader import ArchiveReader
from pilar.tenancy.fleet.archive.reader import MemberStream
from pilar.tenancy.fleet.migrations import head_revision
from pilar.tenancy.fleet.migrations import script_directory
from pilar.tenancy.names import validate_domain
from pilar.tenancy.names import validate_schema_name


@dataclasses.dataclass(frozen=True)
class ImportSummary:
    """Where an import put the tenant, and what it loaded."""

    domain: str
    schema_name: str
    node: str
    revision: str
    rows: int


def import_tenant(
    path: Path,
    *,
    domain: str | None = None,
    schema_name: str | None = None,
    node: str | None = None,
) -> ImportSummary:
    """Recreate the tenant of the archive at ``path``; commits.

    ``domain`` and ``schema_name`` rename it (default: the archive's);
    ``node`` places it (default: the placement node with the fewest tenants).
    Raises ``ArchiveError`` for an archive that is damaged, not one, or of a
    newer tenant revision than this code's; ``ConflictError`` listing every
    conflict; ``ValidationError`` for a bad domain, schema name or node;
    ``NodeUnavailableError``. Nothing is created when it raises.
    """
    location = current_app.config["TENANT_MIGRATIONS_DIR"]
    with path.open("rb") as file:
        reader = ArchiveReader(file)
        manifest = reader.manifest
        _check_revision(manifest.revision, location)
        target = _target(manifest, domain, schema_name, node)
        refuse_conflicts(find_conflicts(target, manifest.numbers), target)
        streams = reader.members()
        if target.node == DEFAULT_NODE:
            with db.engine.connect() as conn, conn.begin():
                revision, rows = load_schema(conn, streams, manifest, target)
                rows += write_control_plane(conn, conn, streams, target, revision)
        else:
            revision, rows = _import_on_node(streams, manifest, target)
    directory().invalidate(target.domain)
    return ImportSummary(target.domain, target.schema_name, target.node, revision, rows)


def _import_on_node(
    streams: Iterator[MemberStream], manifest: Manifest, target: Target
) -> tuple[str, int]:
    # The node's transaction stays open while the control plane commits the
    # rows, and commits last (see the module's docstring).
    with get_nodes().engine(target.node).connect() as node_conn:
        node_transaction = node_conn.begin()
        revision, rows = load_schema(node_conn, streams, manifest, target)
        with db.engine.connect() as conn, conn.begin():
            rows += write_control_plane(conn, node_conn, streams, target, revision)
        try:
            _crash_point("imported_rows")
            node_transaction.commit()
        except Exception:
            # The rows are committed, the schema is not: take the rows back
            # (a crash here leaves them to doctor).
            with db.engine.begin() as conn:
                conn.execute(sa.delete(Tenant).where(Tenant.id == target.id))
            raise
    return revision, rows


def _check_revision(revision: str, location: str) -> None:
    head = head_revision(location)
    known = {
        s.revision for s in script_directory(location).iterate_revisions(head, "base")
    }
    if revision not in known:
        raise ArchiveError(
            f"The archive is at tenant revision {revision!r}, which this code "
            f"does not have (its newest is {head!r}): it was made by newer "
            "code; import it with that code."
        )


def _target(
    manifest: Manifest, domain: str | None, schema_name: str | None, node: str | None
) -> Target:
    platform_hosts = current_app.config["PLATFORM_HOSTS"]
    domain = validate_domain(domain or manifest.tenant.domain, platform_hosts)
    schema_name = validate_schema_name(schema_name or manifest.tenant.schema_name)
    if node is None:
        node = provisioning.place()
    elif node not in get_nodes().config.urls:
        raise ValidationError(
            f"Node {node!r} is not configured.",
            errors={"node": [f"Not one of {', '.join(get_nodes().names)}."]},
        )
    return Target(manifest.tenant.id, domain, schema_name, node)


def _crash_point(name: str) -> None:
    """Do nothing; tests replace it to fail between two databases' commits."""
