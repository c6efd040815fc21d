"""``flask nodes …``: the PostgreSQL nodes that hold tenants (docs/nodes.md)."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from pilar import tenancy
from pilar.cli.groups import CommandGroup
from pilar.cli.tables import echo_table


@click.group("nodes", cls=CommandGroup, help="Show the nodes that hold tenants.")
def group() -> None:
    pass


@group.command("list")
@with_appcontext
def list_() -> None:
    """Show every node: name, tenants, reachable, placement (never a URL)."""
    rows = [("NAME", "TENANTS", "REACHABLE", "PLACEMENT")]
    rows += [
        (
            node.name,
            str(node.tenants),
            "yes" if node.reachable else "no",
            "yes" if node.placement else "no",
        )
        for node in tenancy.node_statuses()
    ]
    echo_table(rows)
