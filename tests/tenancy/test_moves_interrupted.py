"""Moves stopped from outside: the command killed, interrupted, or its target stopped.

Each leaves the tenant served from its old node with all its rows; what the
move made (the copy, the subscription, and the replication slot, which
would keep the source's WAL forever) is gone once the move has cleaned up
after itself or ``doctor --fix`` has run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from pilar.db.extensions import db
from pilar.models import Tenant
from pilar.models import WorkoutPlan
from pilar.tenancy import directory
from pilar.tenancy import get_nodes
from pilar.tenancy import tenant_scope
from pilar.tenancy.fleet import moves
from pilar.tenancy.fleet import provisioning
from pilar.tenancy.fleet.moves import replication
from tests.conftest import dispose_app
from tests.conftest import make_fleet_app
from tests.conftest import nodes_setting
from tests.conftest import unique_domain
from tests.database import throwaway_database
from tests.fleet import assert_doctor_finds_nothing
from tests.fleet import doctor
from tests.fleet import schemas_on
from tests.nodes import StoppableServer

ROOT = Path(__file__).resolve().parents[2]
FLASK = str(Path(sys.executable).with_name("flask"))
# Enough rows that the copy is still running when the test steps in.
ROWS = 200_000
# Printed once every table but workout_plans (which holds ROWS) is copied:
# tables are copied by name.
COPYING_THE_BIG_TABLE = "copied whatsapp_channels"


def seed(app: Flask, node: str = "eu2") -> Tenant:
    with app.app_context():
        tenant = provisioning.create_tenant("Studio", unique_domain(), node=node)
    with app.app_context(), tenant_scope(tenant.domain):
        n = sa.func.generate_series(1, ROWS).column_valued("n")
        rows = sa.select(
            sa.func.gen_random_uuid(),
            sa.func.jsonb_build_object("n", n),
            sa.func.now(),
            sa.func.now(),
        )
        db.session.execute(
            sa.insert(WorkoutPlan).from_select(
                ["id", "plan", "created_at", "updated_at"], rows
            )
        )
        db.session.commit()
    return tenant


def plans(app: Flask, tenant: Tenant) -> int:
    with app.app_context(), tenant_scope(tenant.domain):
        return db.session.execute(
            sa.select(sa.func.count()).select_from(WorkoutPlan)
        ).scalar_one()


def slots_on(app: Flask, node: str) -> list[str]:
    with app.app_context(), get_nodes().engine(node).connect() as conn:
        return replication.leftovers(conn)["slot"]


def assert_served_from_eu2(app: Flask, tenant: Tenant) -> None:
    with app.app_context():
        found = directory().find(tenant.domain)
        assert found is not None
        assert found.node == "eu2"
    assert plans(app, tenant) == ROWS


def start_move(fleet: dict[str, str], tenant: Tenant) -> subprocess.Popen[str]:
    env = {
        "PATH": os.environ["PATH"],
        "LC_ALL": "C.UTF-8",
        "DATABASE_URL": fleet["default"],
        "PILAR_NODES": nodes_setting(
            {k: v for k, v in fleet.items() if k != "default"}
        ),
    }
    return subprocess.Popen(
        [FLASK, "--app", "wsgi", "tenants", "move", tenant.domain, "--to", "eu3"],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def wait_for(process: subprocess.Popen[str], text: str) -> None:
    assert process.stderr is not None
    for line in process.stderr:
        if text in line:
            return
    pytest.fail(f"The move ended before it printed {text!r}: {process.wait()}")


def wait_until_reachable(app: Flask, node: str) -> None:
    deadline = time.monotonic() + 30
    with app.app_context():
        while not get_nodes().is_reachable(node):
            assert time.monotonic() < deadline, f"{node} did not come back"
            time.sleep(0.2)


@pytest.fixture
def app(fleet) -> Iterator[Flask]:
    app = make_fleet_app(fleet)
    yield app
    dispose_app(app)


def test_a_move_killed_while_copying_is_undone_by_doctor(fleet, app):
    tenant = seed(app)
    process = start_move(fleet, tenant)
    wait_for(process, COPYING_THE_BIG_TABLE)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
    assert_served_from_eu2(app, tenant)
    # The slot it made holds WAL until it is dropped.
    assert slots_on(app, "eu2") == [replication.object_name(tenant.id)]
    found = doctor(app)
    assert found.exit_code == 1, found.output
    assert "INTERRUPTED_MOVE" in found.output
    fixed = doctor(app, "--fix")
    assert fixed.exit_code == 0, fixed.output
    assert_doctor_finds_nothing(app)
    assert slots_on(app, "eu2") == []
    assert tenant.schema_name not in schemas_on(app, "eu3")
    assert_served_from_eu2(app, tenant)


def test_a_move_interrupted_with_ctrl_c_cleans_up_after_itself(fleet, app):
    tenant = seed(app)
    process = start_move(fleet, tenant)
    wait_for(process, COPYING_THE_BIG_TABLE)
    process.send_signal(signal.SIGINT)
    _, errors = process.communicate(timeout=60)
    assert process.returncode != 0, errors
    assert errors.rstrip().endswith("Aborted!"), errors
    assert "blocking writes instead" not in errors, errors
    assert_doctor_finds_nothing(app)
    assert slots_on(app, "eu2") == []
    assert_served_from_eu2(app, tenant)


def test_a_move_whose_target_stops_leaves_the_tenant_where_it_was(fleet):
    with StoppableServer() as server, throwaway_database(server.url) as target:
        nodes = {**fleet, "eu3": target}
        app = make_fleet_app(nodes)
        try:
            tenant = seed(app)
            copying = threading.Event()
            failures: list[BaseException] = []
            said: list[str] = []

            def progress(message: str) -> None:
                said.append(message)
                if message.startswith(COPYING_THE_BIG_TABLE):
                    copying.set()

            def run() -> None:
                try:
                    with app.app_context():
                        moves.move_tenant(tenant.domain, "eu3", progress=progress)
                except moves.MoveError as error:
                    failures.append(error)

            mover = threading.Thread(target=run)
            mover.start()
            assert copying.wait(timeout=60)
            server.stop()
            mover.join(timeout=120)
            assert len(failures) == 1, failures
            assert "stays on eu2" in str(failures[0])
            # A lost target is no reason to block writes and copy again.
            assert not [m for m in said if "blocking writes instead" in m], said
            assert_served_from_eu2(app, tenant)
            assert slots_on(app, "eu2") == []
            server.start()
            wait_until_reachable(app, "eu3")
            fixed = doctor(app, "--fix")
            assert fixed.exit_code == 0, fixed.output
            assert_doctor_finds_nothing(app)
            assert tenant.schema_name not in schemas_on(app, "eu3")
        finally:
            dispose_app(app)
