from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from pilar.db.extensions import db
from pilar.errors import TenantNotBoundError
from pilar.models import Conversation
from pilar.models import WorkoutPlan
from pilar.tenancy import scope
from pilar.tenancy import tenant_scope


def _post(client, host, label):
    return client.post("/probe/plans", json={"label": label}, headers={"Host": host})


def _list(client, host):
    return client.get("/probe/plans", headers={"Host": host})


def test_two_tenants_see_only_their_own_rows(probe_app, make_tenant):
    first, second = make_tenant(), make_tenant()
    client = probe_app.test_client()
    assert _post(client, first.domain, "first").get_json() == ["first", "first"]
    assert _post(client, second.domain, "second").get_json() == ["second", "second"]
    assert _list(client, first.domain).get_json() == ["first", "first"]
    assert _list(client, second.domain).get_json() == ["second", "second"]


def test_binding_survives_a_commit_inside_the_request(probe_app, make_tenant):
    studio, neighbour = make_tenant(), make_tenant()
    client = probe_app.test_client()
    _post(client, neighbour.domain, "neighbour")
    # add_plans commits twice and reads after the second commit.
    assert _post(client, studio.domain, "mine").get_json() == ["mine", "mine"]


def test_binding_survives_a_rollback_inside_the_request(probe_app, make_tenant):
    studio, neighbour = make_tenant(), make_tenant()
    client = probe_app.test_client()
    _post(client, studio.domain, "mine")
    _post(client, neighbour.domain, "neighbour")
    response = client.post("/probe/rollback", headers={"Host": studio.domain})
    assert response.get_json() == ["mine", "mine"]


def test_many_threads_on_a_small_pool_never_cross_tenants(probe_app, make_tenant):
    studios = [make_tenant() for _ in range(4)]
    errors: list[str] = []
    lock = threading.Lock()

    def work(index: int) -> None:
        studio = studios[index % len(studios)]
        client = probe_app.test_client()
        for _ in range(5):
            for response in (
                _post(client, studio.domain, studio.domain),
                _list(client, studio.domain),
            ):
                rows = response.get_json()
                if response.status_code not in (200, 201) or set(rows) != {
                    studio.domain
                }:
                    with lock:
                        errors.append(f"{studio.domain}: {response.status_code} {rows}")

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(work, range(16)))
    assert errors == []
    client = probe_app.test_client()
    for studio in studios:
        # 4 threads per studio, 5 rounds, 2 rows each.
        assert _list(client, studio.domain).get_json() == [studio.domain] * 40


@pytest.mark.usefixtures("app_ctx")
def test_tenant_query_without_a_tenant_raises():
    with pytest.raises(TenantNotBoundError):
        db.session.scalars(sa.select(Conversation)).all()
    db.session.rollback()


@pytest.mark.usefixtures("app_ctx")
def test_tenant_insert_without_a_tenant_raises():
    db.session.add(WorkoutPlan(user_id="nobody", plan={}))
    with pytest.raises(TenantNotBoundError):
        db.session.flush()
    db.session.rollback()


@pytest.mark.usefixtures("app_ctx")
def test_tenant_statements_of_every_kind_without_a_tenant_raise():
    table = WorkoutPlan.__table__
    assert isinstance(table, sa.Table)
    rows = [{"row_id": uuid.uuid4(), "new_plan": {}} for _ in range(2)]
    statements = [
        # Several rows in one INSERT ("insertmanyvalues").
        (sa.insert(table), [{"id": row["row_id"], "plan": {}} for row in rows]),
        # The driver's executemany.
        (
            sa.update(table)
            .where(table.c.id == sa.bindparam("row_id"))
            .values(plan=sa.bindparam("new_plan")),
            rows,
        ),
        # No parameters at all.
        (sa.select(sa.func.count()).select_from(table), None),
    ]
    for statement, parameters in statements:
        with db.engine.connect() as conn, pytest.raises(TenantNotBoundError):
            conn.execute(
                statement.execution_options(no_parameters=parameters is None),
                parameters,
            )


def test_tenant_query_on_a_platform_host_raises(probe_app):
    probe_app.config["PROPAGATE_EXCEPTIONS"] = False
    response = probe_app.test_client().get(
        "/probe/plans", headers={"Host": "localhost"}
    )
    assert response.status_code == 500
    assert response.get_json()["code"] == "internal_error"


def test_tenant_scope_binds_a_fresh_session(app, make_tenant):
    first, second = make_tenant(), make_tenant()
    with app.app_context():
        with tenant_scope(first.domain):
            db.session.add(WorkoutPlan(user_id="in-first", plan={}))
            db.session.commit()
        with tenant_scope(second.domain.upper() + "."):
            assert db.session.scalars(sa.select(WorkoutPlan)).all() == []
        with tenant_scope(first.domain):
            assert db.session.scalars(sa.select(WorkoutPlan.user_id)).all() == [
                "in-first"
            ]
        # Outside any scope the app context's own session is still unbound.
        with pytest.raises(TenantNotBoundError):
            db.session.scalars(sa.select(WorkoutPlan)).all()
        db.session.rollback()


def test_request_logs_name_tenant_and_request_id(probe_app, make_tenant, caplog):
    studio = make_tenant()
    client = probe_app.test_client()
    with caplog.at_level("WARNING", logger="tests.probe"):
        response = client.get(
            "/probe/plans", headers={"Host": studio.domain, "X-Request-ID": "req-42"}
        )
    assert response.headers["X-Request-ID"] == "req-42"
    record = next(r for r in caplog.records if r.name == "tests.probe")
    assert (record.tenant, record.request_id) == (studio.domain, "req-42")


def test_a_session_serves_one_tenant_only(app, make_tenant):
    first, second = make_tenant(), make_tenant()
    with app.app_context(), tenant_scope(first.domain):
        session = db.session()
        scope.bind_session(session, first.schema_name)  # again: nothing changes
        with pytest.raises(RuntimeError, match="use a new session"):
            scope.bind_session(session, second.schema_name)
        assert scope.bound_schema_name(session) == first.schema_name
        db.session.add(WorkoutPlan(user_id="still-first", plan={}))
        db.session.commit()
    with app.app_context(), tenant_scope(second.domain):
        assert db.session.scalars(sa.select(WorkoutPlan)).all() == []


def test_binding_a_session_inside_its_transaction_binds_that_transaction(
    app, make_tenant
):
    studio = make_tenant()
    with app.app_context():
        session = db.session()
        session.execute(sa.select(1))  # a transaction begins, unbound
        scope.bind_session(session, studio.schema_name)
        session.add(WorkoutPlan(user_id="bound-late", plan={}))
        session.commit()
    with app.app_context(), tenant_scope(studio.domain):
        assert db.session.scalars(sa.select(WorkoutPlan.user_id)).all() == [
            "bound-late"
        ]


@pytest.mark.usefixtures("app_ctx")
def test_binding_a_connection_needs_its_transaction():
    with (
        db.engine.connect() as conn,
        pytest.raises(RuntimeError, match="needs a transaction"),
    ):
        scope.bind_connection(conn, "acme")
