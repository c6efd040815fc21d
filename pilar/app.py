"""The application factory."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

from pilar import admin
from pilar import api
from pilar import cli
from pilar import config
from pilar import log
from pilar import tenancy
from pilar.db import embedded
from pilar.db import pool
from pilar.db.extensions import db
from pilar.db.extensions import migrate
from pilar.tenancy import nodes


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Create the service: config → database → logging → tenancy → API → CLI."""
    app = Flask("pilar", instance_path=_instance_path(test_config))
    config.load(app, test_config)
    is_embedded = not app.config.get("SQLALCHEMY_DATABASE_URI")
    if is_embedded:
        url, handle = embedded.start(app.instance_path)
        app.config["SQLALCHEMY_DATABASE_URI"] = config.psycopg_url(url)
        app.extensions["pilar.db.embedded"] = handle
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = nodes.engine_options(app.config)
    db.init_app(app)
    migrate.init_app(app, db, directory=app.config["MIGRATIONS_DIR"])
    log.init_app(app)
    with app.app_context():
        pool.ping_after_idle(db.engine, app.config["DB_POOL_PING_IDLE"])
    tenancy.init_app(app)
    api.init_app(app)
    admin.init_app(app)
    cli.init_app(app)
    if is_embedded:
        _upgrade_public_schema(app)
    return app


def _instance_path(test_config: Mapping[str, Any] | None) -> str | None:
    # Where the embedded database and the development secret key live.
    if test_config is not None:
        return test_config.get("INSTANCE_PATH")
    return os.environ.get("PILAR_INSTANCE_PATH") or None


def _upgrade_public_schema(app: Flask) -> None:
    # The embedded database is ours alone: bring it to the newest public
    # revision on start, as `flask db upgrade` would.
    from flask_migrate import upgrade

    with app.app_context():
        upgrade(directory=app.config["MIGRATIONS_DIR"])
