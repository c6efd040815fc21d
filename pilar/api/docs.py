"""Swagger UI's files for ``/api/docs``, served by the app itself.

flask-smorest's page loads Swagger UI from ``OPENAPI_SWAGGER_UI_URL``; a CDN
would leave the page blank wherever the service has no internet access, and
would run whatever that URL serves at the time. The files come from the
``swagger-ui-bundle`` package instead, at the version it pins.
"""

from __future__ import annotations

from flask import Blueprint
from flask import Response
from flask import send_from_directory
from swagger_ui_bundle import swagger_ui_path

URL = "/api/docs/assets/"

blp = Blueprint("api-docs-assets", __name__)


@blp.route(f"{URL}<path:filename>")
def asset(filename: str) -> Response:
    # send_from_directory refuses paths that leave the folder (404).
    return send_from_directory(swagger_ui_path, filename, max_age=86400)
