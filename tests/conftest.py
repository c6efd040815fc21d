from __future__ import annotations

import contextlib
import secrets
import uuid
from collections.abc import Callable
from collections.abc import Iterator
from typing import Any

import phonenumbers
import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade

from pilar import create_app
from pilar.db.extensions import db
from pilar.errors import NotFoundError
from pilar.tenancy.fleet import provisioning
from tests.database import remove_stale
from tests.database import server_url
from tests.database import throwaway_database

ADMIN_TOKEN = "test-admin-token"
# An id no row has; fixed, so that every pytest-xdist worker collects the same ids.
UNKNOWN_ID = "6f1c1f7e-3a2b-4c5d-9e8f-0a1b2c3d4e5f"
OWNER_PASSWORD = "owner-password-1"
PLATFORM_HOST = "localhost"


_REMOVED = pytest.StashKey[list[str]]()


def pytest_sessionstart(session: pytest.Session) -> None:
    # Once a run, in the process that starts the pytest-xdist workers.
    if not hasattr(session.config, "workerinput"):
        session.config.stash[_REMOVED] = remove_stale()


def pytest_report_header(config: pytest.Config) -> list[str]:
    removed = config.stash.get(_REMOVED, [])
    return [f"removed what killed runs left: {' '.join(removed)}"] if removed else []


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    with server_url() as server, throwaway_database(server) as url:
        yield url


def make_app(database_url: str, **overrides: Any) -> Flask:
    config = {
        "SQLALCHEMY_DATABASE_URI": database_url,
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "SECRET_KEY": "test-secret-key",
        "PLATFORM_HOSTS": "localhost,127.0.0.1,platform.test",
    }
    config.update(overrides)
    return create_app(config)


@pytest.fixture(scope="session")
def app(database_url: str) -> Iterator[Flask]:
    app = make_app(database_url)
    with app.app_context():
        upgrade(directory=app.config["MIGRATIONS_DIR"])
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def app_ctx(app: Flask) -> Iterator[None]:
    with app.app_context():
        yield


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask):
    return app.test_cli_runner()


class Platform:
    """Requests to the platform API as a platform admin."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    def request(self, method: str, path: str, **kwargs: Any):
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.client.open(
            path,
            method=method,
            base_url=f"http://{PLATFORM_HOST}",
            headers=headers,
            **kwargs,
        )

    def create_tenant(self, **body: Any) -> dict[str, Any]:
        response = self.request("POST", "/api/v1/tenants", json=body)
        assert response.status_code == 201, response.get_json()
        tenant: dict[str, Any] = response.get_json()
        return tenant


@pytest.fixture
def platform(client: FlaskClient) -> Platform:
    return Platform(client)


def _new_number() -> str:
    # Random North American numbers: numbers are unique across tenants and
    # test rows outlive their test, so no two tests may share one.
    while True:
        digits = f"{201 + secrets.randbelow(789)}{200 + secrets.randbelow(800)}"
        digits += f"{secrets.randbelow(10_000):04d}"
        number = phonenumbers.parse(f"+1{digits}", None)
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(
                number, phonenumbers.PhoneNumberFormat.E164
            )


@pytest.fixture
def new_number() -> Callable[[], str]:
    """Return a maker of valid E.164 numbers that no test has used."""
    return _new_number


def unique_domain(prefix: str = "studio") -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}.example.com"


@pytest.fixture
def make_tenant(app: Flask) -> Iterator[Callable[..., Any]]:
    """Create throwaway tenants (committed); drop them after the test."""
    created: list[uuid.UUID] = []

    def make(domain: str | None = None, **kwargs: Any) -> Any:
        with app.app_context():
            tenant = provisioning.create_tenant(
                kwargs.pop("name", "Studio"), domain or unique_domain(), **kwargs
            )
        created.append(tenant.id)
        return tenant

    yield make
    with app.app_context():
        for tenant_id in created:
            with contextlib.suppress(NotFoundError):  # the test dropped it itself
                provisioning.drop_tenant(tenant_id)


def _session_tenant(app: Flask, prefix: str) -> Any:
    with app.app_context():
        return provisioning.create_tenant(
            prefix.capitalize(),
            unique_domain(prefix),
            owner=provisioning.OwnerSpec(f"owner@{prefix}.example.com", OWNER_PASSWORD),
        )


# The nodes of ``nodes_app`` besides ``default``: one database on each of two
# more PostgreSQL servers (tests/nodes.py says where those come from).
NODE_NAMES = ("eu2", "eu3")


@pytest.fixture(scope="session")
def node_urls(node_server_urls: list[str]) -> Iterator[dict[str, str]]:
    with contextlib.ExitStack() as stack:
        yield {
            name: stack.enter_context(throwaway_database(server))
            for name, server in zip(NODE_NAMES, node_server_urls, strict=True)
        }


def nodes_setting(node_urls: dict[str, str]) -> str:
    """Return ``PILAR_NODES`` for ``node_urls``."""
    return " ".join(f"{name}={url}" for name, url in node_urls.items())


@pytest.fixture(scope="session")
def nodes_app(
    database_url: str, app: Flask, node_urls: dict[str, str]
) -> Iterator[Flask]:
    """An app with the nodes default, eu2 and eu3; new tenants go to default."""
    nodes_app = make_app(
        database_url, NODES=nodes_setting(node_urls), PLACEMENT_NODES="default"
    )
    yield nodes_app
    dispose_app(nodes_app)


@pytest.fixture(scope="session")
def node_server_urls() -> Iterator[list[str]]:
    """libpq URLs of the two servers besides the main one (tests/nodes.py)."""
    from tests.nodes import node_servers

    with node_servers(len(NODE_NAMES)) as urls:
        yield urls


@pytest.fixture
def fleet(database_url: str, node_server_urls: list[str]) -> Iterator[dict[str, str]]:
    """URLs of a fresh control plane (``default``) and of two fresh nodes.

    For tests of what looks at every tenant of every node (doctor, migration
    runs): the shared nodes hold the other tests' tenants.
    """
    with contextlib.ExitStack() as stack:
        urls = {"default": stack.enter_context(throwaway_database(database_url))}
        for name, server in zip(NODE_NAMES, node_server_urls, strict=True):
            urls[name] = stack.enter_context(throwaway_database(server))
        yield urls


def make_fleet_app(fleet: dict[str, str], **overrides: Any) -> Flask:
    """An app over ``fleet`` (``NODES`` may override its nodes), migrated."""
    nodes = {name: url for name, url in fleet.items() if name != "default"}
    app = make_app(fleet["default"], **{"NODES": nodes_setting(nodes), **overrides})
    with app.app_context():
        upgrade(directory=app.config["MIGRATIONS_DIR"])
    return app


def dispose_app(app: Flask) -> None:
    """Close every pool of ``app``: its own and its nodes'."""
    from pilar.tenancy import get_nodes

    with app.app_context():
        get_nodes().dispose()
        db.engine.dispose()


@pytest.fixture
def make_node_tenant(nodes_app: Flask) -> Iterator[Callable[..., Any]]:
    """Create throwaway tenants on ``nodes_app`` (``node=`` picks one); drop them."""
    created: list[uuid.UUID] = []

    def make(domain: str | None = None, **kwargs: Any) -> Any:
        with nodes_app.app_context():
            tenant = provisioning.create_tenant(
                kwargs.pop("name", "Studio"), domain or unique_domain(), **kwargs
            )
        created.append(tenant.id)
        return tenant

    yield make
    with nodes_app.app_context():
        for tenant_id in created:
            with contextlib.suppress(NotFoundError):
                provisioning.drop_tenant(tenant_id)


@pytest.fixture(scope="session")
def tenant(app: Flask) -> Any:
    """The studio "acme", shared by the whole session; tests must not change it."""
    return _session_tenant(app, "acme")


@pytest.fixture(scope="session")
def other_tenant(app: Flask) -> Any:
    """The studio "globex": the neighbour whose rows ``tenant`` must never see."""
    return _session_tenant(app, "globex")
