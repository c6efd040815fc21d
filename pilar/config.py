"""Configuration: defaults, the environment (docs/configuration.md), required keys."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
from flask import Flask

from pilar.errors import ConfigurationError

ROOT = Path(__file__).resolve().parent.parent
# Below this, PILAR_ADMIN_TOKEN draws a warning: nothing throttles guesses of it.
MIN_ADMIN_TOKEN_LENGTH = 32

logger = logging.getLogger(__name__)

DEFAULTS: dict[str, Any] = {
    "PLATFORM_HOSTS": "localhost,127.0.0.1",
    "ADMIN_TOKEN": None,
    # Other processes see a tenant's change of domain or status, or its
    # deletion, within this many seconds plus one reload (docs/tenancy.md).
    "TENANT_CACHE_TTL": 4.0,
    "MIGRATIONS_DIR": str(ROOT / "migrations"),
    "TENANT_MIGRATIONS_DIR": str(ROOT / "tenant_migrations"),
    # A tenant held by long locks fails its migration fast instead of stalling.
    "TENANT_MIGRATION_LOCK_TIMEOUT": "5s",
    "DB_POOL_SIZE": 5,
    "DB_MAX_OVERFLOW": 5,
    # Every backend caches the catalog entries of each table it touches; with
    # thousands of tenant db schemas, recycling connections bounds that memory.
    "DB_POOL_RECYCLE": 300,
    # A pooled connection idle this long is pinged before use (pilar.db.pool).
    "DB_POOL_PING_IDLE": 2.0,
    # Seconds a connection attempt may take (libpq's smallest is 2).
    "DB_CONNECT_TIMEOUT": 2,
    # More nodes as "name=url" pairs, and where new tenants go (docs/nodes.md).
    "NODES": "",
    "PLACEMENT_NODES": None,
    # A node that failed a connection attempt is not tried again for this
    # long: its tenants' requests fail at once meanwhile (pilar.tenancy.nodes).
    "NODE_RETRY_SECONDS": 1.0,
    # `flask tenants doctor` leaves younger claims alone: a claim commits
    # before the row that holds it, on another node (pilar.tenancy.claims).
    "CLAIM_GRACE_SECONDS": 300.0,
    # A request that meets its tenant in the middle of a switch to another node
    # waits this long for it before answering 503 tenant_moving.
    "MOVE_WAIT_SECONDS": 5.0,
    "MAX_CONTENT_LENGTH": 1024 * 1024,
    # The inbound webhooks answer 503 not_configured while unset (docs/api.md).
    "WHATSAPP_APP_SECRET": None,
    "WHATSAPP_VERIFY_TOKEN": None,
    "RETELL_API_KEY": None,
    # Seconds a number's claim is kept in process (pilar.tenancy.numbers); it
    # is checked against the row that holds the number at each use, so its
    # age never misroutes a message.
    "NUMBER_CACHE_TTL": 60.0,
    "ACCESS_TOKEN_TTL": 3600,
    # The data browser's signed session cookie is refused this many seconds
    # after sign-in: signing out cannot revoke a copy, so its life is short.
    "PERMANENT_SESSION_LIFETIME": 12 * 3600,
    "SQLALCHEMY_TRACK_MODIFICATIONS": False,
    "API_TITLE": "PILAR",
    "API_VERSION": "v1",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/api",
    "OPENAPI_JSON_PATH": "openapi.json",
    "OPENAPI_SWAGGER_UI_PATH": "docs",
    "OPENAPI_SWAGGER_UI_URL": "/api/docs/assets/",  # pilar/api/docs.py
}


def load(app: Flask, test_config: Mapping[str, Any] | None) -> None:
    """Fill ``app.config``: defaults, then the environment or ``test_config``."""
    app.config.from_mapping(DEFAULTS)
    if test_config is None:
        app.config.from_prefixed_env("PILAR")
        if os.environ.get("DATABASE_URL"):
            app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["DATABASE_URL"]
    else:
        app.testing = True
        app.config.from_mapping(test_config)
    app.config["PLATFORM_HOSTS"] = _hosts(app.config["PLATFORM_HOSTS"])
    if app.config.get("SQLALCHEMY_DATABASE_URI"):
        app.config["SQLALCHEMY_DATABASE_URI"] = psycopg_url(
            app.config["SQLALCHEMY_DATABASE_URI"]
        )
    _require_secret_key(app)
    _warn_of_a_short_admin_token(app)


def psycopg_url(url: str) -> str:
    """Return ``url`` with the psycopg 3 driver named, as SQLAlchemy needs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


def _hosts(value: str | list[str] | tuple[str, ...]) -> frozenset[str]:
    items = value.split(",") if isinstance(value, str) else value
    return frozenset(host.strip().lower() for host in items if host.strip())


_MISSING_KEY = (
    "PILAR_SECRET_KEY must be set when FLASK_DEBUG is off "
    "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`)."
)


def _require_secret_key(app: Flask) -> None:
    if app.config.get("SECRET_KEY"):
        return
    if not (app.debug or app.testing):
        if _serves_requests():
            raise ConfigurationError(_MISSING_KEY)
        # A command of the CLI: most sign nothing; one that does asks
        # secret_key() and fails then, in one line.
        app.config["SECRET_KEY"] = None
        return
    app.config["SECRET_KEY"] = _instance_secret_key(Path(app.instance_path))


def secret_key(config: Mapping[str, Any]) -> str | bytes:
    """Return ``SECRET_KEY``; raises ``ConfigurationError`` where it is not set."""
    key: str | bytes | None = config.get("SECRET_KEY")
    if not key:
        raise ConfigurationError(_MISSING_KEY)
    return key


def _serves_requests() -> bool:
    # gunicorn (or any WSGI server) and `flask run` serve requests, which need
    # the key; the other `flask` commands load the app only to run a command.
    if os.environ.get("FLASK_RUN_FROM_CLI") != "true":
        return True
    context = click.get_current_context(silent=True)
    return context is not None and context.command.name == "run"


def _warn_of_a_short_admin_token(app: Flask) -> None:
    # Failed uses of the token are not throttled: a lockout would let anyone
    # lock the platform admins out. Its length is what keeps it from guessing.
    token = app.config.get("ADMIN_TOKEN")
    if token and len(token) < MIN_ADMIN_TOKEN_LENGTH and not (app.debug or app.testing):
        logger.warning(
            "PILAR_ADMIN_TOKEN has %d characters; use %d or more random ones "
            "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`).",
            len(token),
            MIN_ADMIN_TOKEN_LENGTH,
        )


def _instance_secret_key(instance: Path) -> str:
    # Development only: one random key per instance folder, kept there so
    # tokens survive a restart of the development server.
    path = instance / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key
