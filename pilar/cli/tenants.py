"""``flask tenants …``: create, list, migrate, revision, doctor, drop (docs/cli.md)."""

from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import with_appcontext

from pilar.cli.groups import CommandGroup
from pilar.cli.groups import ReportedFailure
from pilar.cli.groups import fail
from pilar.cli.tables import echo_table
from pilar.errors import PilarError
from pilar.models import DEFAULT_NODE
from pilar.services import tenants as tenant_service
from pilar.tenancy.fleet import authoring
from pilar.tenancy.fleet import doctor as checks
from pilar.tenancy.fleet import provisioning
from pilar.tenancy.fleet import runner
from pilar.tenancy.names import normalize_host


@click.group(
    "tenants",
    cls=CommandGroup,
    help="Create, list, migrate, check and drop tenants.",
)
def group() -> None:
    pass


@group.command("create")
@click.argument("name")
@click.argument("domain")
@click.option(
    "--schema", "schema_name", help="db schema name (default: from the domain)."
)
@click.option("--owner-email", help="Email of the OWNER user to create.")
@click.option(
    "--owner-password", help="Password of the OWNER user (8 characters or more)."
)
@click.option(
    "--node", help="Node to place it on (default: the placement node with fewest)."
)
@with_appcontext
def create(
    name: str,
    domain: str,
    schema_name: str | None,
    owner_email: str | None,
    owner_password: str | None,
    node: str | None,
) -> None:
    """Create a tenant, its db schema at the newest revision, and an owner."""
    if (owner_email is None) != (owner_password is None):
        raise click.UsageError("--owner-email and --owner-password go together.")
    owner = (
        provisioning.OwnerSpec(owner_email, owner_password)
        if owner_email is not None and owner_password is not None
        else None
    )
    try:
        tenant = provisioning.create_tenant(
            name, domain, schema_name=schema_name, owner=owner, node=node
        )
    except PilarError as err:
        raise fail(err) from None
    click.echo(
        f"Created tenant {tenant.domain} (schema {tenant.schema_name}, "
        f"node {tenant.node}, id {tenant.id})."
    )


@group.command("list")
@with_appcontext
def list_() -> None:
    """Show every tenant: domain, db schema, status, revision and node."""
    table = [("DOMAIN", "SCHEMA", "STATUS", "REVISION", "NODE")]
    table += [
        (t.domain, t.schema_name, t.status.value, t.schema_revision or "-", t.node)
        for t in tenant_service.every_tenant()
    ]
    echo_table(table)


@group.command("migrate")
@click.option(
    "--tenant",
    "domains",
    multiple=True,
    metavar="DOMAIN",
    help="Only this tenant (repeatable).",
)
@click.option(
    "--node",
    "nodes",
    multiple=True,
    metavar="NAME",
    help="Only the tenants of this node (repeatable).",
)
@click.option(
    "--jobs",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Tenants migrated at once on each node.",
)
@click.option(
    "--revision", default="head", show_default=True, help="Revision to upgrade to."
)
@click.option(
    "--canary",
    default=0,
    type=click.IntRange(0),
    help="Migrate this many tenants first; stop if any of them fails.",
)
@with_appcontext
def migrate(
    domains: tuple[str, ...],
    nodes: tuple[str, ...],
    jobs: int,
    revision: str,
    canary: int,
) -> None:
    """Upgrade tenant db schemas on every node, each in its own transaction.

    Nodes run at once. An interrupted run is simply run again: it finishes
    the rest.
    """
    if unknown := runner.unknown_nodes(nodes):
        raise click.BadParameter(
            f"No node is named {', '.join(unknown)}.", param_hint="--node"
        )
    settings = runner.run_settings(jobs=jobs)
    try:
        plan = runner.plan_run(
            settings.location,
            [normalize_host(d) for d in domains],
            revision,
            nodes=nodes,
        )
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--revision") from None
    if plan.unknown_domains:
        raise click.BadParameter(
            f"No tenant has the domain {', '.join(plan.unknown_domains)}.",
            param_hint="--tenant",
        )
    outcomes = []
    with click.progressbar(
        length=len(plan.pending),
        label="Migrating tenants",
        file=sys.stderr,
    ) as bar:
        for outcome in runner.run_plan(settings, plan, canary=canary):
            outcomes.append(outcome)
            bar.update(1)
    _report_run(plan, outcomes)


def _report_run(plan: runner.Plan, outcomes: list[runner.Outcome]) -> None:
    """Print what the run did; a run where a tenant failed ends in status 1."""
    failed = [o for o in outcomes if not o.ok]
    report = [
        f"Target {plan.destination}: {len(outcomes) - len(failed)} migrated, "
        f"{len(plan.up_to_date)} already there, {len(failed)} failed."
    ]
    nodes = sorted({t.node for t in plan.pending + plan.up_to_date})
    if nodes != [DEFAULT_NODE]:
        for node in nodes:
            done = [o for o in outcomes if o.node == node]
            node_failed = sum(not o.ok for o in done)
            there = sum(t.node == node for t in plan.up_to_date)
            report.append(
                f"  node {node}: {len(done) - node_failed} migrated, "
                f"{there} already there, {node_failed} failed"
            )
    if len(outcomes) < len(plan.pending):
        report.append(
            f"A canary tenant failed: the other {len(plan.pending) - len(outcomes)} "
            "tenants were not migrated."
        )
    for outcome in failed:
        stays_at = outcome.before or "none"
        report.append(
            f"FAILED {outcome.domain} ({outcome.schema_name} on node {outcome.node}, "
            f"stays at {stays_at}): {outcome.error}"
        )
    if failed:
        raise ReportedFailure("\n".join(report))
    click.echo("\n".join(report))


@group.command("revision")
@click.option(
    "-m", "--message", required=True, help="What the revision does, imperative."
)
@click.option(
    "--autogenerate",
    is_flag=True,
    help="Compare the tenant models with a tenant db schema at head.",
)
@with_appcontext
def revision(message: str, autogenerate: bool) -> None:
    """Write a new tenant migration in tenant_migrations/versions."""
    location = current_app.config["TENANT_MIGRATIONS_DIR"]
    for script in authoring.write_revision(
        location, message, autogenerate=autogenerate
    ):
        click.echo(f"Wrote {script.path}")


@group.command("doctor")
@click.option("--fix", is_flag=True, help="Repair what can be repaired safely.")
@with_appcontext
def doctor(fix: bool) -> None:
    """Find what the control plane and the nodes disagree on; repair it with --fix.

    Exits non-zero while problems remain.
    """
    grace = current_app.config["CLAIM_GRACE_SECONDS"]
    problems = checks.find_problems(claim_grace_seconds=grace)
    remaining = 0
    for problem in problems:
        domain = f" ({problem.domain})" if problem.domain else ""
        detail = f": {problem.detail}" if problem.detail else ""
        click.echo(
            f"{problem.kind.name} {problem.schema_name}{domain} on node "
            f"{problem.node}: {problem.kind.value}{detail}"
        )
        if not fix:
            remaining += 1
            continue
        repaired = checks.repair(problem, claim_grace_seconds=grace)
        remaining += not repaired.fixed
        click.echo(f"  {'fixed' if repaired.fixed else 'NOT FIXED'}: {repaired.note}")
    summary = f"{len(problems)} problems found, {remaining} remain."
    if remaining:
        raise ReportedFailure(summary)
    click.echo(summary)


@group.command("drop")
@click.argument("domain")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
def drop(domain: str, yes: bool) -> None:
    """Drop a tenant: its db schema and every row of it."""
    domain = normalize_host(domain)
    try:
        tenant_id = tenant_service.tenant_id_by_domain(domain)
    except PilarError as err:
        raise fail(err) from None
    if not yes:
        click.confirm(f"Drop tenant {domain} and all of its data?", abort=True)
    try:
        tenant = provisioning.drop_tenant(tenant_id)
    except PilarError as err:
        raise fail(err) from None
    click.echo(f"Dropped tenant {tenant.domain} (schema {tenant.schema_name}).")
