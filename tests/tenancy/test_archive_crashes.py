"""An import that fails or dies between its two commits leaves nothing lasting.

As in test_crash_points: a failure (an ``Exception``) is cleaned up by the
import itself; a crash (``Crash``, a BaseException) is not, as in a killed
process, and leaves only what ``flask tenants doctor --fix`` repairs.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask import Flask

from pilar.db.extensions import db
from pilar.models import ClaimedNumber
from pilar.models import Tenant
from pilar.tenancy.fleet import provisioning
from pilar.tenancy.fleet.archive import export_tenant
from pilar.tenancy.fleet.archive import import_tenant
from pilar.tenancy.fleet.archive import importing
from tests.archives import fill_tenant
from tests.archives import rows_of
from tests.conftest import dispose_app
from tests.conftest import make_fleet_app
from tests.conftest import unique_domain
from tests.fleet import assert_doctor_finds_nothing
from tests.fleet import doctor
from tests.fleet import schemas_on


@pytest.fixture
def fleet_app(fleet) -> Iterator[Flask]:
    """An app over a fleet of its own; doctor repairs claims of any age."""
    app = make_fleet_app(fleet, CLAIM_GRACE_SECONDS=0)
    yield app
    dispose_app(app)


@pytest.fixture
def exported(fleet_app, new_number, tmp_path):
    """A full tenant on eu2, exported and then dropped."""
    path = tmp_path / "tenant.tar.gz"
    with fleet_app.app_context():
        tenant = provisioning.create_tenant("Studio", unique_domain(), node="eu2")
    fill_tenant(fleet_app, tenant, new_number)
    rows = rows_of(fleet_app, tenant.id)
    with fleet_app.app_context():
        export_tenant(tenant.domain, path)
        provisioning.drop_tenant(tenant.id)
    return tenant, path, rows


class Crash(BaseException):
    """The process dies here: nothing after this point runs."""


def control_plane_rows(app: Flask) -> tuple[int, int]:
    with app.app_context():
        tenants = db.session.scalar(sa.select(sa.func.count()).select_from(Tenant))
        claims = db.session.scalar(
            sa.select(sa.func.count()).select_from(ClaimedNumber)
        )
    return int(tenants or 0), int(claims or 0)


def test_a_failure_after_the_control_plane_commits_leaves_nothing(
    fleet_app, exported, monkeypatch
):
    tenant, path, _ = exported

    def fail(name: str) -> None:
        raise RuntimeError(name)

    monkeypatch.setattr(importing, "_crash_point", fail)
    with fleet_app.app_context(), pytest.raises(RuntimeError):
        import_tenant(path, node="eu3")
    assert control_plane_rows(fleet_app) == (0, 0)
    assert tenant.schema_name not in schemas_on(fleet_app, "eu3")
    assert_doctor_finds_nothing(fleet_app)


def test_a_crash_between_the_commits_leaves_what_doctor_repairs(
    fleet_app, exported, monkeypatch
):
    tenant, path, rows = exported

    def crash(name: str) -> None:
        raise Crash(name)

    monkeypatch.setattr(importing, "_crash_point", crash)
    with fleet_app.app_context(), pytest.raises(Crash):
        import_tenant(path, node="eu3")
    monkeypatch.undo()
    assert tenant.schema_name not in schemas_on(fleet_app, "eu3")
    found = doctor(fleet_app)
    assert found.exit_code == 1
    assert (
        f"TENANT_WITHOUT_SCHEMA {tenant.schema_name} ({tenant.domain}) on node eu3"
        in found.output
    )
    assert doctor(fleet_app, "--fix").exit_code == 0
    # Claims are checked against the rows of a schema that exists: the
    # schema's repair brings its tenant's claims to the next run.
    fixed = doctor(fleet_app, "--fix")
    assert fixed.exit_code == 0, fixed.output
    assert f"CLAIM_WITHOUT_ROW {tenant.schema_name}" in fixed.output
    again = doctor(fleet_app)
    assert again.exit_code == 0, again.output
    assert "0 problems found, 0 remain." in again.output
    # What doctor built is empty: dropping it and importing again restores all.
    with fleet_app.app_context():
        provisioning.drop_tenant(tenant.id)
        import_tenant(path, node="eu3")
    restored = rows_of(fleet_app, tenant.id)
    assert restored["tenants"]["node"] == "eu3"
    restored["tenants"]["node"] = "eu2"
    assert restored == rows
