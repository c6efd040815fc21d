"""``flask tenants move``: a tenant to another node, online (docs/nodes.md)."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from pilar.cli.groups import fail
from pilar.cli.tenants import group
from pilar.errors import PilarError
from pilar.tenancy.fleet import moves


@group.command("move")
@click.argument("domain")
@click.option("--to", "target", required=True, metavar="NODE", help="Node to move to.")
@click.option(
    "--mode",
    type=click.Choice([mode.value for mode in moves.Mode]),
    default=moves.Mode.AUTO.value,
    show_default=True,
    help="logical: replicate, block writes only to switch; block-writes: block "
    "writes while copying; auto: logical where the source allows it.",
)
@with_appcontext
def move(domain: str, target: str, mode: str) -> None:
    """Move a tenant's db schema and rows to another node and route it there.

    Reads are served throughout, and writes are held only while the switch
    is made (block-writes: while rows are copied). Interrupted, it leaves
    the tenant on its old node; run it again, or `flask tenants doctor
    --fix`, to remove what it made.
    """
    try:
        summary = moves.move_tenant(
            domain,
            target,
            mode=moves.Mode(mode),
            progress=lambda message: click.echo(f"  {message}", err=True),
        )
    except PilarError as err:
        raise fail(err) from None
    click.echo(
        f"Moved {summary.domain} from {summary.source} to {summary.target} "
        f"({summary.mode.value}): {summary.rows:,} rows in {summary.seconds:.1f} s, "
        f"writes blocked {summary.write_pause:.3f} s."
    )
    for left in summary.left:
        click.echo(f"Left for `flask tenants doctor --fix`: {left}.")
