"""Helpers for tests over a fleet of their own: doctor, what a node holds, an outage."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from flask import Flask

from pilar.db.extensions import db
from pilar.models import Tenant
from pilar.tenancy import get_nodes
from pilar.tenancy.fleet import provisioning
from tests.conftest import make_app
from tests.conftest import nodes_setting
from tests.conftest import unique_domain
from tests.nodes import StoppableServer


def doctor(app: Flask, *args: str):
    return app.test_cli_runner().invoke(args=["tenants", "doctor", *args])


def assert_doctor_finds_nothing(app: Flask) -> None:
    result = doctor(app)
    assert result.exit_code == 0, result.output
    assert "0 problems found, 0 remain." in result.output


def schemas_on(app: Flask, node: str) -> set[str]:
    with app.app_context(), get_nodes().engine(node).connect() as conn:
        return set(sa.inspect(conn).get_schema_names())


@contextmanager
def outage(
    database_url: str, node_urls: dict[str, str], **config: Any
) -> Iterator[tuple[Flask, StoppableServer, Tenant, Tenant]]:
    """Yield an app whose node ``gone`` is a server of the test's own, stopped at will.

    With a tenant on ``gone`` (doomed) and one on ``eu2`` (kept); ``config``
    is the app's further settings.
    """
    with StoppableServer() as server:
        app = make_app(
            database_url,
            NODES=nodes_setting({**node_urls, "gone": server.url}),
            PLACEMENT_NODES="default",
            **config,
        )
        with app.app_context():
            doomed = provisioning.create_tenant("Doomed", unique_domain(), node="gone")
            kept = provisioning.create_tenant("Kept", unique_domain(), node="eu2")
        yield app, server, doomed, kept
        with app.app_context():
            # The server is gone with the tenant's schema; the row goes too.
            db.session.execute(sa.delete(Tenant).where(Tenant.id == doomed.id))
            db.session.commit()
            provisioning.drop_tenant(kept.id)
            get_nodes().dispose()
            db.engine.dispose()
