"""An outage in the log: one line per failed request, the cause's traceback once."""

from __future__ import annotations

import logging
import threading
import time

import pytest
from flask_migrate import upgrade

from pilar.db.extensions import db
from pilar.tenancy import get_nodes
from pilar.tenancy.fleet import provisioning
from tests.api.conftest import TenantActions
from tests.conftest import make_app
from tests.conftest import unique_domain
from tests.nodes import StoppableServer


@pytest.fixture
def restartable():
    """An app whose only database is on a server of the test's own."""
    with StoppableServer() as server:
        app = make_app(server.url)
        app.config["PROPAGATE_EXCEPTIONS"] = False
        with app.app_context():
            upgrade(directory=app.config["MIGRATIONS_DIR"])
            tenant = provisioning.create_tenant("Down", unique_domain())
        yield app, server, TenantActions(app, app.test_client(), tenant)
        server.start()
        with app.app_context():
            get_nodes().dispose()
            db.engine.dispose()


def _failures(caplog) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name.startswith(("pilar", "sqlalchemy")) and r.levelno >= logging.ERROR
    ]


def _await_recovery(actions: TenantActions) -> None:
    deadline = time.monotonic() + 10
    while actions.request("GET", "/api/v1/workout-plans").status_code != 200:
        assert time.monotonic() < deadline, "the database never came back"
        time.sleep(0.1)


def test_each_outage_logs_one_traceback_and_a_line_per_request(restartable, caplog):
    _app, server, studio = restartable
    assert studio.request("GET", "/api/v1/workout-plans").status_code == 200
    for outage in range(2):
        server.stop()
        caplog.clear()
        statuses = [
            status
            for _ in range(10)
            for status in (
                studio.request("GET", "/api/v1/workout-plans").status_code,
                studio.request(
                    "POST", "/api/v1/workout-plans", json={"plan": {}}
                ).status_code,
            )
        ]
        assert statuses == [503] * 20, outage
        failures = _failures(caplog)
        answered = [r for r in failures if r.name == "pilar.api.errors"]
        assert len(answered) == 20, [r.getMessage() for r in failures]
        assert all("503 service_unavailable" in r.getMessage() for r in answered)
        with_traceback = [r for r in failures if r.exc_info]
        assert len(with_traceback) == 1, [r.getMessage() for r in with_traceback]
        server.start()
        _await_recovery(studio)


def test_retrying_every_503_with_its_key_stores_each_write_once(restartable):
    """PostgreSQL restarted under a write load whose clients retry every 503."""
    _app, server, studio = restartable
    body = {"channel": "VOICE", "transcript": []}
    conversation = studio.request("POST", "/api/v1/conversations", json=body)
    path = f"/api/v1/conversations/{conversation.get_json()['id']}/messages"
    token = studio.token()
    writers, writes = 4, 40
    statuses: list[int] = []

    def write(writer: int) -> None:
        client = studio.app.test_client()
        for number in range(writes):
            key = f"w{writer}-{number}"
            deadline = time.monotonic() + 30
            while True:
                response = client.post(
                    path,
                    json={"role": "member", "text": key},
                    base_url=f"http://{studio.tenant.domain}",
                    headers={
                        "Authorization": f"Bearer {token}",
                        "Idempotency-Key": key,
                    },
                )
                statuses.append(response.status_code)
                if response.status_code != 503:
                    break
                assert time.monotonic() < deadline, "the database never came back"
                time.sleep(0.05)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    time.sleep(0.3)
    server.stop()
    time.sleep(0.5)
    server.start()
    for thread in threads:
        thread.join()
    assert 500 not in statuses
    assert 503 in statuses, "the restart fell outside the load"
    assert set(statuses) <= {201, 409, 503}, set(statuses)
    _await_recovery(studio)
    shown = studio.request("GET", path.removesuffix("/messages")).get_json()
    texts = [turn["text"] for turn in shown["transcript"]]
    assert sorted(texts) == sorted(
        f"w{w}-{n}" for w in range(writers) for n in range(writes)
    )
