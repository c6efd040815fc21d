"""Configuration read from the environment, as in production."""

from __future__ import annotations

import logging
import secrets

import pytest

from pilar import create_app
from pilar.db.extensions import db


@pytest.mark.parametrize(
    ("token", "warned"),
    [("letmein", True), ("Gk3v9QeT1wzX7LpB2mNc8RfY4hJd6sAu0oVi5KtE", False)],
)
def test_a_short_admin_token_is_warned_of(monkeypatch, tmp_path, caplog, token, warned):
    monkeypatch.delenv("FLASK_DEBUG", raising=False)
    monkeypatch.setenv("PILAR_SECRET_KEY", secrets.token_urlsafe(48))
    monkeypatch.setenv("PILAR_ADMIN_TOKEN", token)
    # Nothing listens there: creating the app connects to nothing.
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:1/nowhere")
    monkeypatch.setenv("PILAR_INSTANCE_PATH", str(tmp_path))
    with caplog.at_level(logging.WARNING, logger="pilar.config"):
        app = create_app()
    with app.app_context():
        db.engine.dispose()
    warnings = [r.getMessage() for r in caplog.records if r.name == "pilar.config"]
    assert bool(warnings) is warned
    assert all(token not in warning for warning in warnings)
    if warned:
        assert "PILAR_ADMIN_TOKEN has 7 characters; use 32 or more" in warnings[0]
