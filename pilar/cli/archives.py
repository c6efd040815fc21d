"""``flask tenants export`` and ``import``: a tenant in one file (docs/nodes.md)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import click
from flask.cli import with_appcontext

from pilar.cli.groups import fail
from pilar.cli.tenants import group
from pilar.errors import PilarError
from pilar.tenancy.fleet import archive


@group.command("export")
@click.argument("domain")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
def export(domain: str, file: Path) -> None:
    """Write a tenant to the archive FILE (gzip-compressed if named *.gz or *.tgz).

    The archive holds every row of the tenant's db schema and its
    control-plane rows (tenant, users with their password hashes,
    integrations), with a manifest of row counts and checksums. Secrets stay
    encrypted. The tenant is served as usual meanwhile.
    """
    if not file.parent.is_dir():
        raise click.BadParameter(
            f"Folder {str(file.parent)!r} does not exist.", param_hint="FILE"
        )
    with _failing_as_cli("write", file):
        summary = archive.export_tenant(domain, file)
    click.echo(
        f"Exported tenant {summary.domain} (revision {summary.revision}, "
        f"{summary.rows} rows in {summary.tables} tables) to {file} "
        f"({summary.size} bytes)."
    )


@group.command("import")
@click.argument(
    "file", type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path)
)
@click.option("--domain", help="Domain to give the tenant (default: the archive's).")
@click.option(
    "--schema", "schema_name", help="db schema name (default: the archive's)."
)
@click.option(
    "--node", help="Node to place it on (default: the placement node with fewest)."
)
@with_appcontext
def import_(
    file: Path, domain: str | None, schema_name: str | None, node: str | None
) -> None:
    """Recreate a tenant from the archive FILE, all or nothing.

    Refused, with every conflict listed, if its domain, schema name, id or a
    number of it is taken; refused if the archive is damaged or of a newer
    tenant revision than this code's. An older revision is upgraded.
    """
    with _failing_as_cli("read", file):
        summary = archive.import_tenant(
            file, domain=domain, schema_name=schema_name, node=node
        )
    click.echo(
        f"Imported tenant {summary.domain} (schema {summary.schema_name}, node "
        f"{summary.node}, revision {summary.revision}, {summary.rows} rows)."
    )


@contextlib.contextmanager
def _failing_as_cli(action: str, file: Path) -> Iterator[None]:
    # A refusal, or the archive file failing to ``action``, ends the command
    # with its message rather than a traceback.
    try:
        yield
    except PilarError as err:
        raise fail(err) from None
    except OSError as err:
        raise click.ClickException(f"Cannot {action} {str(file)!r}: {err}.") from None
