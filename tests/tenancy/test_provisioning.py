from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import orm

from pilar.db.extensions import db
from pilar.errors import ConflictError
from pilar.models import Tenant
from pilar.models import TenantUser
from pilar.tenancy.fleet import provisioning
from pilar.tenancy.fleet.provisioning import creating
from tests.conftest import make_app
from tests.conftest import unique_domain


class InjectedError(Exception):
    pass


def _counts(app, domain, schema_name):
    with app.app_context():
        rows = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Tenant)
            .where(Tenant.domain == domain)
        )
        users = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(TenantUser)
            .where(TenantUser.email == f"owner@{domain}")
        )
        schema = schema_name in sa.inspect(db.engine).get_schema_names()
        db.session.rollback()
    return rows, users, schema


@pytest.mark.parametrize("step", ["build_schema", "hash_password"])
def test_failure_after_the_schema_is_created_leaves_nothing(app, monkeypatch, step):
    """A crash at any later step rolls back the row, the schema and the owner."""
    real = getattr(creating, step)

    def fail_after(*args, **kwargs):
        real(*args, **kwargs)
        raise InjectedError(step)

    monkeypatch.setattr(creating, step, fail_after)
    domain = unique_domain("atomic")
    schema_name = domain.split(".")[0]
    with app.app_context(), pytest.raises(InjectedError):
        provisioning.create_tenant(
            "Atomic",
            domain,
            owner=provisioning.OwnerSpec(f"owner@{domain}", "password-1"),
        )
    assert _counts(app, domain, schema_name) == (0, 0, False)


def test_failed_create_over_http_answers_500_and_leaves_nothing(
    database_url, monkeypatch
):
    app = make_app(database_url, PROPAGATE_EXCEPTIONS=False)

    def explode(*args, **kwargs):
        raise InjectedError("after CREATE SCHEMA")

    monkeypatch.setattr(creating, "build_schema", explode)
    domain = unique_domain("atomic")
    response = app.test_client().post(
        "/api/v1/tenants",
        json={"name": "Atomic", "domain": domain},
        headers={"Authorization": "Bearer test-admin-token"},
    )
    assert response.status_code == 500
    assert response.get_json()["code"] == "internal_error"
    assert _counts(app, domain, domain.split(".")[0]) == (0, 0, False)
    with app.app_context():
        db.engine.dispose()


def test_drop_is_atomic_when_it_fails(app, make_tenant, monkeypatch):
    studio = make_tenant()

    def explode(*args, **kwargs):
        raise InjectedError("after DROP SCHEMA")

    monkeypatch.setattr(orm.Session, "delete", explode)
    with app.app_context(), pytest.raises(InjectedError):
        provisioning.drop_tenant(studio.id)
    monkeypatch.undo()
    assert _counts(app, studio.domain, studio.schema_name)[0::2] == (1, True)


def test_create_conflicts_are_reported_not_raised_as_errors(app, make_tenant):
    studio = make_tenant()
    with app.app_context(), pytest.raises(ConflictError):
        provisioning.create_tenant("Twin", studio.domain)


def test_other_processes_see_changes_within_the_cache_ttl(
    database_url, make_tenant, platform
):
    """A second app stands for another process: it learns of a suspension by TTL."""
    studio = make_tenant()
    other = make_app(database_url, TENANT_CACHE_TTL=2)
    other_client = other.test_client()
    assert other_client.get("/x", headers={"Host": studio.domain}).status_code == 404
    platform.request(
        "PATCH", f"/api/v1/tenants/{studio.id}", json={"status": "SUSPENDED"}
    )
    # Still cached in the other process...
    assert other_client.get("/x", headers={"Host": studio.domain}).status_code == 404
    time.sleep(2.1)
    # ...until the entry expires.
    assert other_client.get("/x", headers={"Host": studio.domain}).status_code == 403
    with other.app_context():
        db.engine.dispose()


def test_a_new_tenant_is_reachable_at_once_in_every_process(database_url, make_tenant):
    other = make_app(database_url)
    domain = unique_domain()
    assert other.test_client().get("/x", headers={"Host": domain}).status_code == 404
    make_tenant(domain)
    response = other.test_client().get("/x", headers={"Host": domain})
    assert response.get_json()["code"] == "not_found"
    with other.app_context():
        db.engine.dispose()


def _create_racing_an_open_transaction(app, first, second):
    """Create tenant ``second`` while ``first`` is created, not yet committed.

    ``first`` and ``second`` are (domain, schema_name) pairs. The second
    create checks before the first commits, so it sees nothing taken and
    waits on PostgreSQL's own uniqueness; returns what it raised.
    """
    raised: list[BaseException] = []

    def create_second():
        with app.app_context():
            try:
                provisioning.create_tenant("Second", second[0], schema_name=second[1])
            except BaseException as err:  # handed to the test thread
                raised.append(err)

    with app.app_context(), db.engine.connect() as conn, db.engine.connect() as probe:
        with conn.begin():
            creating._create_in_transaction(
                conn,
                conn,
                creating._NewTenant("First", first[0], first[1], None, "default", None),
            )
            racer = threading.Thread(target=create_second)
            racer.start()
            deadline = time.monotonic() + 30
            while not probe.scalar(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE wait_event_type = 'Lock' AND datname = current_database()"
                )
            ):
                probe.rollback()
                assert time.monotonic() < deadline, "the second create never waited"
                time.sleep(0.05)
        racer.join(timeout=30)
    return raised


@pytest.mark.parametrize(
    ("same", "schema_names"),
    [
        ("domain", "derived"),  # both derive the same schema name from it
        ("domain", "given"),  # each names its own
        ("schema_name", "given"),
    ],
)
def test_a_create_racing_another_gets_409_for_what_they_share(app, same, schema_names):
    domain = unique_domain()
    schema_name = f"race_{uuid.uuid4().hex[:12]}"
    first, second = {
        ("domain", "derived"): ((domain, None), (domain, None)),
        ("domain", "given"): ((domain, schema_name), (domain, f"{schema_name}_2")),
        ("schema_name", "given"): (
            (domain, schema_name),
            (unique_domain(), schema_name),
        ),
    }[same, schema_names]
    try:
        raised = _create_racing_an_open_transaction(app, first, second)
        assert len(raised) == 1
        error = raised[0]
        assert isinstance(error, ConflictError), raised
        assert error.errors == {same: ["Taken."]}
        # The second left no row: the one of its domain is the first's, if any.
        assert _counts(app, second[0], "")[0] == (same == "domain")
    finally:
        with app.app_context():
            tenant = db.session.scalar(
                sa.select(Tenant).where(Tenant.domain == first[0])
            )
            db.session.rollback()
            if tenant is not None:
                provisioning.drop_tenant(tenant.id)


def _drop_tenants(app, *domains):
    with app.app_context():
        tenants = db.session.scalars(
            sa.select(Tenant).where(Tenant.domain.in_(domains))
        ).all()
        db.session.rollback()
        for tenant in tenants:
            provisioning.drop_tenant(tenant.id)


def test_a_derived_schema_name_that_loses_a_race_is_derived_again(app):
    label = f"race{uuid.uuid4().hex[:8]}"
    first, second = (f"{label}.example1.com", None), (f"{label}.example2.com", None)
    try:
        assert _create_racing_an_open_transaction(app, first, second) == []
        with app.app_context():
            schema_names = db.session.execute(
                sa.select(Tenant.domain, Tenant.schema_name).where(
                    Tenant.domain.in_([first[0], second[0]])
                )
            ).all()
            db.session.rollback()
        assert sorted(schema_names) == [(first[0], label), (second[0], f"{label}_2")]
    finally:
        _drop_tenants(app, first[0], second[0])


def test_a_given_schema_name_that_loses_a_race_to_a_derived_one_gets_409(app):
    label = f"race{uuid.uuid4().hex[:8]}"
    first, second = (f"{label}.example1.com", None), (f"{label}.example2.com", label)
    try:
        raised = _create_racing_an_open_transaction(app, first, second)
        assert len(raised) == 1
        assert isinstance(raised[0], ConflictError), raised
        assert raised[0].errors == {"schema_name": ["Taken."]}
        assert _counts(app, second[0], "")[0] == 0
    finally:
        _drop_tenants(app, first[0], second[0])


def test_parallel_creates_deriving_one_schema_name_all_succeed(database_url):
    """The reported race: four POSTs at once, no schema name given."""
    app = make_app(database_url)
    label = f"race{uuid.uuid4().hex[:8]}"
    domains = [f"{label}.example{n}.com" for n in range(1, 5)]
    responses: dict[str, tuple[int, Any]] = {}
    start = threading.Barrier(len(domains))

    def post(domain):
        client = app.test_client()
        start.wait()
        response = client.post(
            "/api/v1/tenants",
            json={"name": "Racer", "domain": domain},
            headers={"Authorization": "Bearer test-admin-token"},
        )
        responses[domain] = response.status_code, response.get_json()

    threads = [threading.Thread(target=post, args=(domain,)) for domain in domains]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert [status for status, _ in responses.values()] == [201] * 4, responses
        assert sorted(body["schema_name"] for _, body in responses.values()) == [
            label,
            f"{label}_2",
            f"{label}_3",
            f"{label}_4",
        ]
    finally:
        _drop_tenants(app, *domains)
        with app.app_context():
            db.engine.dispose()
