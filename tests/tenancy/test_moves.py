"""Moving a tenant between nodes while it is served: nothing lost, doubled or left.

The studio is served by one app and moved by another, as by two processes:
the serving app's directory still routes to the old node when the switch
happens, so these tests go through the fence and the retry on the new node.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from pilar.db.extensions import db
from pilar.errors import ValidationError
from pilar.models import Tenant
from pilar.models import TenantMove
from pilar.models import WorkoutPlan
from pilar.tenancy import get_nodes
from pilar.tenancy import tenant_scope
from pilar.tenancy.fleet import moves
from pilar.tenancy.fleet import provisioning
from pilar.tenancy.fleet.moves import cleanup
from pilar.tenancy.fleet.moves import copying
from pilar.tenancy.fleet.moves import replication
from pilar.tenancy.fleet.moves import state
from tests.api.conftest import TenantActions
from tests.conftest import dispose_app
from tests.conftest import make_fleet_app
from tests.conftest import unique_domain
from tests.fleet import assert_doctor_finds_nothing
from tests.fleet import doctor
from tests.fleet import schemas_on
from tests.webhooks.conftest import SECRETS
from tests.webhooks.conftest import Studio
from tests.webhooks.conftest import Webhooks
from tests.webhooks.conftest import new_contact
from tests.webhooks.conftest import text_message
from tests.webhooks.conftest import whatsapp_payload
from tests.webhooks.conftest import whatsapp_value


@pytest.fixture
def apps(fleet) -> Iterator[tuple[Flask, Flask]]:
    """The app that serves the studio, and the one that moves it."""
    server, mover = make_fleet_app(fleet), make_fleet_app(fleet)
    yield server, mover
    dispose_app(server)
    dispose_app(mover)


def make_studio(app: Flask, node: str = "eu2", plans: int = 50) -> TenantActions:
    with app.app_context():
        tenant = provisioning.create_tenant("Studio", unique_domain(), node=node)
    if plans:
        with app.app_context(), tenant_scope(tenant.domain):
            db.session.add_all([WorkoutPlan(plan={"n": n}) for n in range(plans)])
            db.session.commit()
    return TenantActions(app, app.test_client(), tenant)


def node_of(app: Flask, studio: TenantActions) -> str:
    with app.app_context():
        node = db.session.execute(
            sa.select(Tenant.node).where(Tenant.id == studio.tenant.id)
        ).scalar_one()
    return node


def move(app: Flask, studio: TenantActions, target: str, mode: str = "auto"):
    with app.app_context():
        return moves.move_tenant(studio.tenant.domain, target, mode=moves.Mode(mode))


def new_conversation(studio: TenantActions) -> str:
    response = studio.request(
        "POST", "/api/v1/conversations", json={"channel": "WHATSAPP"}
    )
    assert response.status_code == 201, response.get_json()
    conversation_id: str = response.get_json()["id"]
    return conversation_id


def turns(studio: TenantActions, conversation_id: str) -> list[str]:
    response = studio.request("GET", f"/api/v1/conversations/{conversation_id}")
    assert response.status_code == 200, response.get_json()
    return [turn["text"] for turn in response.get_json()["transcript"]]


class Load:
    """Writers appending turns and readers reading them, in threads, until stopped.

    Each write carries an Idempotency-Key and is sent again with it after a
    503, as a careful client does; a turn is acknowledged by its 201.
    """

    def __init__(self, studio: TenantActions, conversation_id: str) -> None:
        self.studio = studio
        self.path = f"/api/v1/conversations/{conversation_id}"
        self.acknowledged: list[str] = []
        self.failed_reads: list[Any] = []
        self.unexpected: list[Any] = []
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._write, args=(n,)) for n in range(3)
        ]
        self._threads += [threading.Thread(target=self._read) for _ in range(2)]

    def __enter__(self) -> Load:
        self.studio.token()  # signed in once, before the threads share it
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def _write(self, writer: int) -> None:
        count = 0
        while not self._stop.is_set():
            text = f"w{writer}-{count}"
            key = str(uuid.uuid4())
            while True:
                response = self.studio.request(
                    "POST",
                    f"{self.path}/messages",
                    json={"role": "user", "text": text},
                    headers={"Idempotency-Key": key},
                )
                if response.status_code != 503:
                    break
                time.sleep(0.05)
            if response.status_code == 201:
                self.acknowledged.append(text)
            else:
                self.unexpected.append((response.status_code, response.get_json()))
            count += 1

    def _read(self) -> None:
        while not self._stop.is_set():
            response = self.studio.request("GET", self.path)
            if response.status_code != 200:
                self.failed_reads.append((response.status_code, response.get_json()))


@pytest.mark.parametrize("mode", ["logical", "block-writes"])
def test_a_move_under_load_loses_no_write_doubles_none_and_fails_no_read(apps, mode):
    server, mover = apps
    studio = make_studio(server)
    conversation_id = new_conversation(studio)
    with Load(studio, conversation_id) as load:
        time.sleep(0.5)
        summary = move(mover, studio, "eu3", mode)
        time.sleep(0.5)
    assert summary.mode.value == mode
    assert summary.left == []
    assert load.failed_reads == []
    assert load.unexpected == []
    assert len(load.acknowledged) > 10
    stored = turns(studio, conversation_id)
    assert sorted(stored) == sorted(load.acknowledged)
    assert node_of(server, studio) == "eu3"
    assert not schemas_on(server, "eu2") & {
        studio.tenant.schema_name,
        state.fenced_name(studio.tenant.id),
    }
    with server.app_context(), tenant_scope(studio.tenant.domain):
        assert (
            db.session.scalar(sa.select(sa.func.count()).select_from(WorkoutPlan)) == 50
        )
    assert_doctor_finds_nothing(server)


def test_auto_replicates_from_a_node_with_logical_decoding(apps):
    server, mover = apps
    studio = make_studio(server, "eu2")
    assert move(mover, studio, "eu3").mode is moves.Mode.LOGICAL


def test_auto_blocks_writes_from_a_node_without_logical_decoding(apps):
    server, mover = apps
    studio = make_studio(server, "default")
    with mover.app_context(), get_nodes().engine("default").connect() as conn:
        logical = replication.wal_level(conn) == "logical"
    summary = move(mover, studio, "eu2")
    assert summary.mode is (moves.Mode.LOGICAL if logical else moves.Mode.BLOCK_WRITES)
    assert node_of(server, studio) == "eu2"
    assert studio.request("GET", "/api/v1/workout-plans").status_code == 200


def test_a_tenant_moves_there_and_back(apps):
    server, mover = apps
    studio = make_studio(server, "eu2")
    move(mover, studio, "eu3")
    move(mover, studio, "eu2", "block-writes")
    assert node_of(server, studio) == "eu2"
    response = studio.request("GET", "/api/v1/workout-plans?limit=200")
    assert len(response.get_json()["items"]) == 50
    assert_doctor_finds_nothing(server)


def test_moving_to_the_tenants_own_or_an_unknown_node_is_refused(apps):
    server, mover = apps
    studio = make_studio(server, "eu2", plans=0)
    with pytest.raises(ValidationError, match="already"):
        move(mover, studio, "eu2")
    with pytest.raises(ValidationError, match="not configured"):
        move(mover, studio, "mars")


class Interrupt(BaseException):
    """Ctrl-C, or the process killed, at one point of the move."""


# Where a move is interrupted: a function of the move, and whether the
# interruption comes before or after it ran.
STEPS = [
    (copying, "build_copy", "after"),
    (replication, "publish", "after"),
    (replication, "subscribe", "after"),
    (state, "mark_fenced", "after"),
    (state, "switch", "before"),
]
STEP_IDS = [f"{where}-{name}" for _, name, where in STEPS]


def interrupt_at(monkeypatch, module: Any, name: str, where: str) -> None:
    original = getattr(module, name)

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        if where == "before":
            raise Interrupt(name)
        original(*args, **kwargs)
        raise Interrupt(name)

    monkeypatch.setattr(module, name, interrupted)


def assert_served_from(
    app: Flask, studio: TenantActions, node: str, plans: int = 50
) -> None:
    """The studio is on ``node``, with its ``plans``, and takes one more."""
    assert node_of(app, studio) == node
    response = studio.request("GET", "/api/v1/workout-plans?limit=200")
    assert response.status_code == 200, response.get_json()
    assert len(response.get_json()["items"]) == plans
    created = studio.request("POST", "/api/v1/workout-plans", json={"plan": {}})
    assert created.status_code == 201, created.get_json()


@pytest.mark.parametrize(("module", "name", "where"), STEPS, ids=STEP_IDS)
def test_an_interrupted_move_puts_everything_back(
    apps, monkeypatch, module, name, where
):
    server, mover = apps
    studio = make_studio(server)
    interrupt_at(monkeypatch, module, name, where)
    with pytest.raises(Interrupt):
        move(mover, studio, "eu3", "logical")
    monkeypatch.undo()
    assert studio.tenant.schema_name not in schemas_on(server, "eu3")
    assert_served_from(server, studio, "eu2")
    assert_doctor_finds_nothing(server)


@pytest.mark.parametrize(("module", "name", "where"), STEPS, ids=STEP_IDS)
def test_a_killed_move_is_undone_by_doctor_and_then_runs_again(
    apps, monkeypatch, module, name, where
):
    server, mover = apps
    studio = make_studio(server)
    interrupt_at(monkeypatch, module, name, where)
    # Killed: none of the move's own cleanup runs.
    monkeypatch.setattr(cleanup, "undo", lambda move, progress: [])
    with pytest.raises(Interrupt):
        move(mover, studio, "eu3", "logical")
    monkeypatch.undo()
    found = doctor(server)
    assert found.exit_code == 1, found.output
    assert f"INTERRUPTED_MOVE {studio.tenant.schema_name} on node eu2" in found.output
    fixed = doctor(server, "--fix")
    assert fixed.exit_code == 0, fixed.output
    assert_doctor_finds_nothing(server)
    assert_served_from(server, studio, "eu2")
    assert move(mover, studio, "eu3").left == []
    assert_served_from(server, studio, "eu3", plans=51)


def test_running_a_killed_move_again_undoes_it_and_finishes(apps, monkeypatch):
    server, mover = apps
    studio = make_studio(server)
    interrupt_at(monkeypatch, state, "switch", "before")
    monkeypatch.setattr(cleanup, "undo", lambda move, progress: [])
    with pytest.raises(Interrupt):
        move(mover, studio, "eu3", "block-writes")
    monkeypatch.undo()
    with mover.app_context():
        assert state.find(studio.tenant.id) is not None
    move(mover, studio, "eu3", "block-writes")
    assert_served_from(server, studio, "eu3")
    assert_doctor_finds_nothing(server)


def test_a_request_that_meets_the_fence_waits_for_the_switch(apps, monkeypatch):
    server, mover = apps
    studio = make_studio(server)
    studio.token()
    switch = state.switch
    results: list[int] = []

    def slow_switch(*args: Any) -> bool:
        # The source is renamed: a request sent now must wait, then succeed.
        thread = threading.Thread(
            target=lambda: results.append(
                studio.request("GET", "/api/v1/workout-plans").status_code
            )
        )
        thread.start()
        time.sleep(0.3)
        switched = switch(*args)
        thread.join(timeout=10)
        return switched

    monkeypatch.setattr(state, "switch", slow_switch)
    move(mover, studio, "eu3", "block-writes")
    assert results == [200]


def test_a_switch_that_outlasts_the_wait_gets_503_with_retry_after(apps, monkeypatch):
    server, mover = apps
    server.config["MOVE_WAIT_SECONDS"] = 0.2
    studio = make_studio(server)
    studio.token()
    interrupt_at(monkeypatch, state, "switch", "before")
    monkeypatch.setattr(cleanup, "undo", lambda move, progress: [])
    with pytest.raises(Interrupt):
        move(mover, studio, "eu3", "block-writes")
    response = studio.request("GET", "/api/v1/workout-plans")
    assert response.status_code == 503
    assert response.get_json()["code"] == "tenant_moving"
    assert response.headers["Retry-After"] == "1"
    with mover.app_context():
        assert (
            db.session.scalar(sa.select(sa.func.count()).select_from(TenantMove)) == 1
        )


def test_a_whatsapp_message_for_a_moved_studio_is_stored_on_its_new_node(fleet):
    server = make_fleet_app(fleet, **SECRETS)
    mover = make_fleet_app(fleet)
    try:
        with server.app_context():
            tenant = provisioning.create_tenant("Studio", unique_domain(), node="eu2")
        receiver = Studio(server, tenant)
        phone_number_id = receiver.add_whatsapp_channel()
        contact = new_contact()
        hooks = Webhooks(server.test_client())
        first = whatsapp_payload(
            whatsapp_value(phone_number_id, [text_message(contact, "before")])
        )
        assert hooks.post_whatsapp(first).status_code == 200
        # The server's directory and number cache still say eu2.
        move(mover, receiver.actions, "eu3", "block-writes")
        second = whatsapp_payload(
            whatsapp_value(phone_number_id, [text_message(contact, "after")])
        )
        response = hooks.post_whatsapp(second)
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["stored"] == 1
        [conversation] = receiver.conversations()
        assert [turn["text"] for turn in conversation["transcript"]] == [
            "before",
            "after",
        ]
    finally:
        dispose_app(server)
        dispose_app(mover)
