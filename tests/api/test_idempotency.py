"""Idempotency-Key on writes (docs/api.md): a retry is replayed, never repeated."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy import orm

from pilar.db.extensions import db
from pilar.models import Conversation
from pilar.models import IdempotencyKey
from pilar.models import Role
from pilar.models import Tenant
from pilar.tenancy import tenant_scope
from tests.api.conftest import TenantActions
from tests.conftest import Platform
from tests.conftest import unique_domain

BODY = {"channel": "VOICE", "transcript": [{"role": "member", "text": "Hi"}]}


def _keyed(key: str, **headers: str) -> dict[str, str]:
    return {"Idempotency-Key": key, **headers}


def _count_conversations(app, tenant) -> int:
    with app.app_context(), tenant_scope(tenant.domain):
        return int(db.session.scalar(sa.select(sa.func.count(Conversation.id))) or 0)


@pytest.fixture
def studio(app, make_tenant) -> TenantActions:
    return TenantActions(app, app.test_client(), make_tenant())


def test_a_retry_gets_the_first_answer_and_changes_nothing(studio):
    first = studio.request(
        "POST", "/api/v1/conversations", json=BODY, headers=_keyed("k-1")
    )
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first.headers
    again = studio.request(
        "POST", "/api/v1/conversations", json=BODY, headers=_keyed("k-1")
    )
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert _count_conversations(studio.app, studio.tenant) == 1


def test_the_same_key_for_another_request_gets_422(studio):
    studio.request("POST", "/api/v1/conversations", json=BODY, headers=_keyed("k-2"))
    other = {**BODY, "channel": "EMAIL"}
    for method, path, body in (
        ("POST", "/api/v1/conversations", other),
        ("POST", "/api/v1/workout-plans", {"plan": {}}),
    ):
        response = studio.request(method, path, json=body, headers=_keyed("k-2"))
        assert response.status_code == 422
        assert response.get_json()["code"] == "idempotency_key_reused"
    assert _count_conversations(studio.app, studio.tenant) == 1


@pytest.mark.parametrize("key", ["", " ", "a b", "ä", "x" * 256, "tab\t"])
def test_a_malformed_key_gets_400(studio, key):
    response = studio.request(
        "POST", "/api/v1/conversations", json=BODY, headers=_keyed(key)
    )
    assert response.status_code == 400, key
    assert response.get_json()["code"] == "bad_request"
    assert _count_conversations(studio.app, studio.tenant) == 0


def test_keys_of_two_users_never_meet(studio):
    mine = studio.request(
        "POST", "/api/v1/conversations", json=BODY, headers=_keyed("shared")
    )
    theirs = studio.request(
        "POST",
        "/api/v1/conversations",
        json=BODY,
        headers=_keyed("shared"),
        role=Role.STAFF,
    )
    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert mine.get_json()["id"] != theirs.get_json()["id"]
    assert "Idempotent-Replayed" not in theirs.headers


def test_concurrent_requests_with_one_key_run_once(studio):
    studio.token()
    barrier = threading.Barrier(8)

    def send(_: int):
        client = studio.app.test_client()
        barrier.wait()
        return client.post(
            "/api/v1/conversations",
            json=BODY,
            base_url=f"http://{studio.tenant.domain}",
            headers=_keyed("race", Authorization=f"Bearer {studio.token()}"),
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(send, range(8)))
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {201, 409}, statuses
    created = [r for r in responses if r.status_code == 201]
    assert len({r.get_json()["id"] for r in created}) == 1
    busy = [r for r in responses if r.status_code == 409]
    assert all(r.get_json()["code"] == "idempotency_key_in_use" for r in busy)
    assert _count_conversations(studio.app, studio.tenant) == 1


def _lose_the_answer_of_the_next_commit(monkeypatch) -> None:
    """Commit for real, then fail as a connection lost before the reply would."""
    commit = orm.Session.commit
    lost: list[bool] = []

    def commit_then_fail(self):
        commit(self)
        if not lost:
            lost.append(True)
            raise sa.exc.OperationalError(
                "COMMIT", {}, psycopg.OperationalError("server closed the connection")
            )

    monkeypatch.setattr(orm.Session, "commit", commit_then_fail)


def test_a_retry_after_an_answer_lost_at_commit_is_replayed(studio, monkeypatch):
    studio.token()
    studio.app.config["PROPAGATE_EXCEPTIONS"] = False
    try:
        _lose_the_answer_of_the_next_commit(monkeypatch)
        lost = studio.request(
            "POST", "/api/v1/conversations", json=BODY, headers=_keyed("lost")
        )
        assert lost.status_code == 503
        monkeypatch.undo()
        retried = studio.request(
            "POST", "/api/v1/conversations", json=BODY, headers=_keyed("lost")
        )
    finally:
        studio.app.config["PROPAGATE_EXCEPTIONS"] = None
    assert retried.status_code == 201
    assert retried.headers["Idempotent-Replayed"] == "true"
    assert _count_conversations(studio.app, studio.tenant) == 1


def test_an_append_retried_after_a_lost_answer_appends_once(studio, monkeypatch):
    created = studio.request("POST", "/api/v1/conversations", json=BODY).get_json()
    path = f"/api/v1/conversations/{created['id']}/messages"
    studio.app.config["PROPAGATE_EXCEPTIONS"] = False
    try:
        _lose_the_answer_of_the_next_commit(monkeypatch)
        turn = {"role": "member", "text": "Once"}
        assert (
            studio.request("POST", path, json=turn, headers=_keyed("t")).status_code
            == 503
        )
        monkeypatch.undo()
        retried = studio.request("POST", path, json=turn, headers=_keyed("t"))
    finally:
        studio.app.config["PROPAGATE_EXCEPTIONS"] = None
    assert retried.status_code == 201
    shown = studio.request("GET", f"/api/v1/conversations/{created['id']}")
    assert [t["text"] for t in shown.get_json()["transcript"]] == ["Hi", "Once"]


def test_a_failed_write_is_not_kept_and_runs_again(studio, new_number):
    number = new_number()
    first = studio.request(
        "POST", "/api/v1/phone-numbers", json={"number": number}, headers=_keyed("n")
    )
    assert first.status_code == 201
    taken = studio.request(
        "POST", "/api/v1/phone-numbers", json={"number": number}, headers=_keyed("m")
    )
    assert taken.status_code == 409
    studio.request("DELETE", f"/api/v1/phone-numbers/{first.get_json()['id']}")
    again = studio.request(
        "POST", "/api/v1/phone-numbers", json={"number": number}, headers=_keyed("m")
    )
    assert again.status_code == 201
    assert "Idempotent-Replayed" not in again.headers


def test_keys_older_than_a_day_are_purged(studio):
    studio.request("POST", "/api/v1/conversations", json=BODY, headers=_keyed("old"))
    with studio.app.app_context(), tenant_scope(studio.tenant.domain):
        db.session.execute(
            sa.update(IdempotencyKey).values(
                created_at=sa.func.now() - sa.text("interval '25 hours'")
            )
        )
        db.session.commit()
    again = studio.request(
        "POST", "/api/v1/conversations", json=BODY, headers=_keyed("old")
    )
    assert again.status_code == 201
    assert "Idempotent-Replayed" not in again.headers
    with studio.app.app_context(), tenant_scope(studio.tenant.domain):
        assert (
            db.session.scalar(sa.select(sa.func.count()).select_from(IdempotencyKey))
            == 1
        )


def test_platform_create_and_delete_are_replayed(platform: Platform, app):
    domain = unique_domain()
    body = {"name": "Keyed", "domain": domain}
    first = platform.request("POST", "/api/v1/tenants", json=body, headers=_keyed("c"))
    assert first.status_code == 201
    again = platform.request("POST", "/api/v1/tenants", json=body, headers=_keyed("c"))
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    path = f"/api/v1/tenants/{first.get_json()['id']}"
    deleted = platform.request("DELETE", path, headers=_keyed("d"))
    assert deleted.status_code == 204
    replayed = platform.request("DELETE", path, headers=_keyed("d"))
    assert replayed.status_code == 204
    assert replayed.headers["Idempotent-Replayed"] == "true"
    with app.app_context():
        assert (
            db.session.scalar(sa.select(sa.func.count()).where(Tenant.domain == domain))
            == 0
        )


def test_a_tenant_on_another_node_keeps_its_keys_there(nodes_app, make_node_tenant):
    far = TenantActions(
        nodes_app, nodes_app.test_client(), make_node_tenant(node="eu2")
    )
    first = far.request("POST", "/api/v1/conversations", json=BODY, headers=_keyed("f"))
    again = far.request("POST", "/api/v1/conversations", json=BODY, headers=_keyed("f"))
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert _count_conversations(nodes_app, far.tenant) == 1


def test_the_document_offers_the_header_on_every_write(client):
    paths = client.get("/api/openapi.json").get_json()["paths"]
    writes = [
        (path, method, operation)
        for path, operations in paths.items()
        if path.startswith("/api/v1/") and not path.startswith("/api/v1/auth")
        for method, operation in operations.items()
        if method in ("post", "put", "patch", "delete")
    ]
    assert len(writes) > 10
    for path, method, operation in writes:
        names = [p["name"] for p in operation.get("parameters", [])]
        assert "Idempotency-Key" in names, (path, method)
        # What a key alone may cause: malformed, still running, reused.
        for status, code in (
            ("400", "visible ASCII"),
            ("409", "idempotency_key_in_use"),
            ("422", "idempotency_key_reused"),
        ):
            assert code in operation["responses"][status]["description"]
