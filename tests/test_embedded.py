"""With no database configured, the app starts its own PostgreSQL and serves."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from pilar import create_app
from pilar.db.extensions import db
from pilar.errors import ConfigurationError


@pytest.fixture
def embedded_app(tmp_path):
    app = create_app(
        {"SECRET_KEY": "test", "ADMIN_TOKEN": "t", "INSTANCE_PATH": str(tmp_path)}
    )
    yield app
    with app.app_context():
        db.engine.dispose()


def test_embedded_postgres_starts_migrates_and_serves(embedded_app, tmp_path):
    assert (tmp_path / "pgdata").is_dir()
    client = embedded_app.test_client()
    assert client.get("/healthz").get_json() == {"status": "ok"}
    with embedded_app.app_context():
        tables = set(sa.inspect(db.engine).get_table_names(schema="public"))
    assert {
        "tenants",
        "tenant_users",
        "tenant_integrations",
        "claimed_numbers",
    } <= tables
    response = client.post(
        "/api/v1/tenants",
        json={"name": "Embedded", "domain": "embedded.example.com"},
        headers={"Authorization": "Bearer t"},
    )
    assert response.status_code == 201, response.get_json()
    assert (
        client.get("/healthz", headers={"Host": "embedded.example.com"}).status_code
        == 200
    )


def test_a_secret_key_is_required_outside_development(monkeypatch, tmp_path):
    monkeypatch.delenv("PILAR_SECRET_KEY", raising=False)
    monkeypatch.delenv("FLASK_DEBUG", raising=False)
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    monkeypatch.setenv("PILAR_INSTANCE_PATH", str(tmp_path))
    monkeypatch.delenv("FLASK_RUN_FROM_CLI", raising=False)  # served, by gunicorn say
    with pytest.raises(ConfigurationError, match="PILAR_SECRET_KEY"):
        create_app()


def test_development_key_is_generated_once_per_instance_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("PILAR_SECRET_KEY", raising=False)
    monkeypatch.setenv("FLASK_DEBUG", "1")
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    monkeypatch.setenv("PILAR_INSTANCE_PATH", str(tmp_path))
    first, second = create_app(), create_app()
    assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"]
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
    for app in (first, second):
        with app.app_context():
            db.engine.dispose()
