"""Helpers for tests over a fleet of their own: doctor, and what a node holds."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Flask

from pilar.tenancy import get_nodes


def doctor(app: Flask, *args: str):
    return app.test_cli_runner().invoke(args=["tenants", "doctor", *args])


def assert_doctor_finds_nothing(app: Flask) -> None:
    result = doctor(app)
    assert result.exit_code == 0, result.output
    assert "0 problems found, 0 remain." in result.output


def schemas_on(app: Flask, node: str) -> set[str]:
    with app.app_context(), get_nodes().engine(node).connect() as conn:
        return set(sa.inspect(conn).get_schema_names())
