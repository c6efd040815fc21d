"""``GET /healthz``: answers on every host."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import Response
from flask import jsonify
from sqlalchemy.exc import SQLAlchemyError

from pilar.api.blueprint import Blueprint
from pilar.db.extensions import db
from pilar.schemas.health import HealthSchema

logger = logging.getLogger(__name__)

blp = Blueprint(
    "health", __name__, description="Liveness of the service and its database."
)


@blp.route("/healthz")
@blp.response(200, HealthSchema, description="The database answers.")
@blp.alt_response(503, schema=HealthSchema, description="The database does not answer.")
def healthz() -> Response:
    """Tell whether the service and its database answer"""
    try:
        with db.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except SQLAlchemyError:
        logger.warning("Health check: the database does not answer", exc_info=True)
        response = jsonify({"status": "unavailable"})
        response.status_code = 503
        return response
    return jsonify({"status": "ok"})
