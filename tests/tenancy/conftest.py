from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Blueprint
from flask import Flask
from flask import jsonify
from flask import request

from pilar.db.extensions import db
from pilar.models import WorkoutPlan
from tests.conftest import make_app

logger = logging.getLogger("tests.probe")


def probe_blueprint() -> Blueprint:
    """Tenant-scoped routes that exercise the binding the way real views do."""
    probe = Blueprint("probe", __name__, url_prefix="/probe")

    @probe.get("/plans")
    def list_plans() -> Any:
        rows = db.session.scalars(sa.select(WorkoutPlan.user_id)).all()
        logger.warning("listed %d plans", len(rows))
        return jsonify(sorted(rows))

    @probe.post("/plans")
    def add_plans() -> Any:
        # Two commits in one request: the binding must survive the first.
        label = request.get_json()["label"]
        for _ in range(2):
            db.session.add(WorkoutPlan(user_id=label, plan={}))
            db.session.commit()
        rows = db.session.scalars(sa.select(WorkoutPlan.user_id)).all()
        return jsonify(sorted(rows)), 201

    @probe.post("/rollback")
    def add_then_roll_back() -> Any:
        db.session.add(WorkoutPlan(user_id="rolled-back", plan={}))
        db.session.flush()
        db.session.rollback()
        rows = db.session.scalars(sa.select(WorkoutPlan.user_id)).all()
        return jsonify(sorted(rows))

    return probe


def make_probe_app(database_url: str, **overrides: Any) -> Flask:
    app = make_app(database_url, **overrides)
    app.register_blueprint(probe_blueprint())
    return app


@pytest.fixture
def probe_app(database_url: str, app: Flask) -> Iterator[Flask]:
    """An app on a small pool (2 connections) with the probe routes."""
    probe = make_probe_app(database_url, DB_POOL_SIZE=2, DB_MAX_OVERFLOW=0)
    yield probe
    with probe.app_context():
        db.engine.dispose()
