"""A crash between the commits of two databases leaves only what doctor repairs.

Each test kills the work at one point between the control plane's commit and
the node's (``Crash`` is a BaseException: no ``except Exception`` cleanup
runs, as none would in a killed process), then checks that `flask tenants
doctor` finds what is left, that `--fix` repairs it, and that the tenant
and its numbers work afterwards. Each test has a control plane and two nodes
of its own, since doctor looks at every tenant of every node.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from pilar.db.extensions import db
from pilar.models import ClaimedNumber
from pilar.models import NumberKind
from pilar.models import PendingDrop
from pilar.models import PhoneNumber
from pilar.models import Tenant
from pilar.models import WorkoutPlan
from pilar.services import phone_numbers
from pilar.tenancy import claims
from pilar.tenancy import get_nodes
from pilar.tenancy import tenant_scope
from pilar.tenancy.fleet import provisioning
from pilar.tenancy.fleet.building import build_schema
from pilar.tenancy.fleet.provisioning import creating
from pilar.tenancy.fleet.provisioning import dropping
from tests.conftest import dispose_app
from tests.conftest import make_fleet_app
from tests.conftest import unique_domain
from tests.fleet import assert_doctor_finds_nothing
from tests.fleet import doctor
from tests.fleet import schemas_on

NOWHERE = "postgresql://postgres@127.0.0.1:1/nowhere"


class Crash(BaseException):
    """The process dies here: nothing after this point runs."""


@pytest.fixture
def fleet_app(fleet) -> Iterator[Flask]:
    """An app over a fleet of its own; doctor repairs claims of any age."""
    app = make_fleet_app(fleet, CLAIM_GRACE_SECONDS=0)
    yield app
    dispose_app(app)


def crash_at(monkeypatch, module: Any, point: str) -> None:
    def crash(name: str) -> None:
        if name == point:
            raise Crash(name)

    monkeypatch.setattr(module, "_crash_point", crash)


def assert_repaired(app: Flask, *lines: str) -> None:
    """Doctor reports ``lines``, --fix repairs all, and a new run finds nothing."""
    found = doctor(app)
    assert found.exit_code == 1, found.output
    for line in lines:
        assert line in found.output
    fixed = doctor(app, "--fix")
    assert fixed.exit_code == 0, fixed.output
    assert_doctor_finds_nothing(app)


def make_tenant(app: Flask, node: str = "eu2") -> Tenant:
    with app.app_context():
        return provisioning.create_tenant("Studio", unique_domain(), node=node)


def add_plan(app: Flask, tenant: Tenant) -> None:
    with app.app_context(), tenant_scope(tenant.domain):
        db.session.add(WorkoutPlan(plan={"day": 1}))
        db.session.commit()


def pending_drops(app: Flask) -> int:
    with app.app_context():
        return db.session.execute(
            sa.select(sa.func.count()).select_from(PendingDrop)
        ).scalar_one()


def claim_of(app: Flask, number: str) -> ClaimedNumber | None:
    with app.app_context():
        return db.session.get(ClaimedNumber, (NumberKind.PHONE, number))


def create_number(app: Flask, tenant: Tenant, number: str) -> uuid.UUID:
    with app.app_context(), tenant_scope(tenant.domain):
        return phone_numbers.create_phone_number(number=number).id


def test_a_crash_after_a_create_commits_its_rows_leaves_a_tenant_doctor_builds(
    fleet_app, monkeypatch
):
    crash_at(monkeypatch, creating, "created_rows")
    domain = unique_domain()
    with fleet_app.app_context(), pytest.raises(Crash):
        provisioning.create_tenant("Studio", domain, node="eu2")
    monkeypatch.undo()
    with fleet_app.app_context():
        tenant = db.session.scalar(sa.select(Tenant).where(Tenant.domain == domain))
    assert tenant is not None
    assert tenant.schema_name not in schemas_on(fleet_app, "eu2")
    assert_repaired(
        fleet_app,
        f"TENANT_WITHOUT_SCHEMA {tenant.schema_name} ({domain}) on node eu2",
    )
    add_plan(fleet_app, tenant)


def test_a_crash_after_a_drop_deletes_the_rows_leaves_a_schema_doctor_drops(
    fleet_app, monkeypatch
):
    tenant = make_tenant(fleet_app)
    add_plan(fleet_app, tenant)
    crash_at(monkeypatch, dropping, "deleted_rows")
    with fleet_app.app_context(), pytest.raises(Crash):
        provisioning.drop_tenant(tenant.id)
    monkeypatch.undo()
    assert tenant.schema_name in schemas_on(fleet_app, "eu2")
    # It holds rows, and is dropped all the same: its tenant is deleted.
    assert_repaired(fleet_app, f"PENDING_DROP {tenant.schema_name} on node eu2")
    assert tenant.schema_name not in schemas_on(fleet_app, "eu2")
    with fleet_app.app_context():
        assert (
            db.session.scalar(sa.select(sa.func.count()).select_from(PendingDrop)) == 0
        )


def test_a_crash_after_a_drop_drops_the_schema_leaves_a_record_doctor_forgets(
    fleet_app, monkeypatch
):
    tenant = make_tenant(fleet_app)
    crash_at(monkeypatch, dropping, "dropped_schema")
    with fleet_app.app_context(), pytest.raises(Crash):
        provisioning.drop_tenant(tenant.id)
    monkeypatch.undo()
    assert tenant.schema_name not in schemas_on(fleet_app, "eu2")
    assert_repaired(fleet_app, f"PENDING_DROP {tenant.schema_name} on node eu2")
    with fleet_app.app_context():
        assert (
            db.session.scalar(sa.select(sa.func.count()).select_from(PendingDrop)) == 0
        )


def test_a_crash_after_a_claim_commits_leaves_a_claim_doctor_deletes(
    fleet_app, monkeypatch, new_number
):
    tenant, neighbour = make_tenant(fleet_app), make_tenant(fleet_app, "eu3")
    number = new_number()
    crash_at(monkeypatch, claims, "claim_committed")
    with pytest.raises(Crash):
        create_number(fleet_app, tenant, number)
    monkeypatch.undo()
    claim = claim_of(fleet_app, number)
    assert claim is not None
    with fleet_app.app_context(), tenant_scope(tenant.domain):
        assert db.session.scalars(sa.select(PhoneNumber)).all() == []
    assert_repaired(
        fleet_app,
        f"CLAIM_WITHOUT_ROW {tenant.schema_name} ({tenant.domain}) on node eu2",
    )
    assert claim_of(fleet_app, number) is None
    create_number(fleet_app, neighbour, number)


def test_a_crash_before_a_release_leaves_a_claim_doctor_deletes(
    fleet_app, monkeypatch, new_number
):
    tenant, neighbour = make_tenant(fleet_app), make_tenant(fleet_app, "eu3")
    number = new_number()
    phone_number_id = create_number(fleet_app, tenant, number)
    crash_at(monkeypatch, claims, "row_committed")
    with (
        pytest.raises(Crash),
        fleet_app.app_context(),
        tenant_scope(tenant.domain),
    ):
        phone_numbers.delete_phone_number(phone_number_id)
    monkeypatch.undo()
    assert claim_of(fleet_app, number) is not None
    assert_repaired(fleet_app, f"CLAIM_WITHOUT_ROW {tenant.schema_name}")
    assert claim_of(fleet_app, number) is None
    create_number(fleet_app, neighbour, number)


def test_a_claim_younger_than_the_grace_period_is_left_alone(
    fleet, monkeypatch, new_number
):
    app = make_fleet_app(fleet)  # the default grace period
    try:
        tenant = make_tenant(app)
        crash_at(monkeypatch, claims, "claim_committed")
        with pytest.raises(Crash):
            create_number(app, tenant, new_number())
        monkeypatch.undo()
        assert_doctor_finds_nothing(app)
    finally:
        dispose_app(app)


def test_a_row_whose_claim_is_gone_is_claimed_again(fleet_app, new_number):
    tenant = make_tenant(fleet_app)
    number = new_number()
    phone_number_id = create_number(fleet_app, tenant, number)
    with fleet_app.app_context():
        db.session.execute(sa.delete(ClaimedNumber))
        db.session.commit()
    assert_repaired(
        fleet_app,
        f"ROW_WITHOUT_CLAIM {tenant.schema_name} ({tenant.domain}) on node eu2",
        "not claimed",
    )
    claim = claim_of(fleet_app, number)
    assert claim is not None
    assert (claim.tenant_id, claim.owner_id) == (tenant.id, phone_number_id)


def test_a_number_claimed_for_no_row_goes_to_the_row_that_holds_it(
    fleet_app, new_number
):
    tenant, neighbour = make_tenant(fleet_app), make_tenant(fleet_app, "eu3")
    number = new_number()
    phone_number_id = create_number(fleet_app, tenant, number)
    with fleet_app.app_context():
        db.session.execute(
            sa.update(ClaimedNumber)
            .where(ClaimedNumber.value == number)
            .values(tenant_id=neighbour.id, owner_id=uuid.uuid4())
        )
        db.session.commit()
    assert_repaired(
        fleet_app,
        f"CLAIM_WITHOUT_ROW {neighbour.schema_name}",
        f"ROW_WITHOUT_CLAIM {tenant.schema_name}",
        "claimed for another row",
    )
    claim = claim_of(fleet_app, number)
    assert claim is not None
    assert (claim.tenant_id, claim.owner_id) == (tenant.id, phone_number_id)


def test_a_number_two_rows_hold_is_left_to_a_person(fleet_app, new_number):
    tenant, neighbour = make_tenant(fleet_app), make_tenant(fleet_app, "eu3")
    number = new_number()
    create_number(fleet_app, tenant, number)
    other_id = create_number(fleet_app, neighbour, new_number())
    # A restore, say, gave the neighbour's row the same number and its claim.
    with fleet_app.app_context():
        with tenant_scope(neighbour.domain):
            db.session.execute(
                sa.update(PhoneNumber)
                .where(PhoneNumber.id == other_id)
                .values(number=number)
            )
            db.session.commit()
        db.session.execute(
            sa.update(ClaimedNumber)
            .where(ClaimedNumber.value == number)
            .values(tenant_id=neighbour.id, owner_id=other_id)
        )
        db.session.commit()
    fixed = doctor(fleet_app, "--fix")
    assert fixed.exit_code == 1, fixed.output
    assert f"ROW_WITHOUT_CLAIM {tenant.schema_name}" in fixed.output
    assert "NOT FIXED: left in place: another row has claimed it" in fixed.output
    claim = claim_of(fleet_app, number)
    assert claim is not None
    assert (claim.tenant_id, claim.owner_id) == (neighbour.id, other_id)


def test_a_schema_on_another_node_than_its_tenants_is_an_orphan_there(fleet_app):
    tenant = make_tenant(fleet_app, "eu2")
    with fleet_app.app_context(), get_nodes().engine("eu3").begin() as conn:
        conn.execute(sa.schema.CreateSchema(tenant.schema_name))
        build_schema(conn, tenant.schema_name)
    assert_repaired(
        fleet_app, f"SCHEMA_WITHOUT_TENANT {tenant.schema_name} on node eu3"
    )
    assert tenant.schema_name not in schemas_on(fleet_app, "eu3")
    assert tenant.schema_name in schemas_on(fleet_app, "eu2")
    add_plan(fleet_app, tenant)


def test_doctor_records_the_revision_of_a_schema_on_a_node(fleet_app):
    tenant = make_tenant(fleet_app, "eu3")
    with fleet_app.app_context():
        db.session.execute(
            sa.update(Tenant).where(Tenant.id == tenant.id).values(schema_revision=None)
        )
        db.session.commit()
    assert_repaired(fleet_app, f"REVISION_MISMATCH {tenant.schema_name}")
    with fleet_app.app_context():
        recorded = db.session.scalar(
            sa.select(Tenant.schema_revision).where(Tenant.id == tenant.id)
        )
    assert recorded == tenant.schema_revision


def test_a_node_out_of_reach_is_reported_and_the_others_are_checked(fleet):
    setup = make_fleet_app(fleet)
    try:
        tenant = make_tenant(setup, "eu2")
        with setup.app_context(), get_nodes().engine("eu2").begin() as conn:
            conn.execute(sa.schema.DropSchema(tenant.schema_name, cascade=True))
    finally:
        dispose_app(setup)
    cut_off = make_fleet_app({**fleet, "eu3": NOWHERE})
    try:
        result = doctor(cut_off, "--fix")
    finally:
        dispose_app(cut_off)
    assert result.exit_code == 1, result.output
    assert "NODE_UNREACHABLE - on node eu3" in result.output
    assert f"TENANT_WITHOUT_SCHEMA {tenant.schema_name}" in result.output
    assert "fixed: created the db schema" in result.output


def test_doctor_sends_a_node_as_many_statements_for_many_tenants_as_for_few(
    fleet_app,
):
    def statements_on_eu2() -> int:
        statements: list[str] = []

        def count(conn, cursor, statement, *args: Any) -> None:
            statements.append(statement)

        with fleet_app.app_context():
            engine = get_nodes().engine("eu2")
            sa.event.listen(engine, "before_cursor_execute", count)
            try:
                result = doctor(fleet_app)
            finally:
                sa.event.remove(engine, "before_cursor_execute", count)
        assert result.exit_code == 0, result.output
        return len(statements)

    make_tenant(fleet_app, "eu2")
    few = statements_on_eu2()
    for _ in range(5):
        make_tenant(fleet_app, "eu2")
    assert statements_on_eu2() == few
