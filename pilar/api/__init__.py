"""The HTTP API: blueprints in URL order, the error envelope, the OpenAPI document."""

from __future__ import annotations

from flask import Flask
from flask_smorest import Api

from pilar import tenancy
from pilar.api import auth
from pilar.api import errors
from pilar.api import health
from pilar.api import tenants
from pilar.api.platform import SECURITY_SCHEME


def init_app(app: Flask) -> None:
    api = Api(app)
    api.spec.components.security_scheme("platformToken", SECURITY_SCHEME)
    api.spec.components.security_scheme("bearerAuth", auth.SECURITY_SCHEME)
    api.register_blueprint(health.blp)
    api.register_blueprint(tenants.blp)
    tenancy.allow_any_host(app, health.blp.name, "api-docs")
    errors.init_app(app)
