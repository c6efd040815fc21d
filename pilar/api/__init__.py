"""The HTTP API: blueprints in URL order, the error envelope, the OpenAPI document."""

from __future__ import annotations

from flask import Flask

from pilar import tenancy
from pilar.api import auth
from pilar.api import conversations
from pilar.api import docs
from pilar.api import errors
from pilar.api import export
from pilar.api import health
from pilar.api import idempotency
from pilar.api import integrations
from pilar.api import me
from pilar.api import nodes
from pilar.api import openapi
from pilar.api import phone_numbers
from pilar.api import tenants
from pilar.api import users
from pilar.api import webhooks
from pilar.api import whatsapp_channels
from pilar.api import workout_plans
from pilar.api.errors import Api
from pilar.api.platform import SECURITY_SCHEME


def init_app(app: Flask) -> None:
    api = Api(app)
    openapi.init_spec(api)
    api.spec.components.security_scheme("platformToken", SECURITY_SCHEME)
    api.spec.components.security_scheme("bearerAuth", auth.SECURITY_SCHEME)
    api.register_blueprint(health.blp)
    api.register_blueprint(tenants.blp)
    api.register_blueprint(nodes.blp)
    api.register_blueprint(auth.blp)
    api.register_blueprint(me.blp)
    api.register_blueprint(users.blp)
    integrations.register_schemas(api.spec)
    api.register_blueprint(integrations.blp)
    api.register_blueprint(phone_numbers.blp)
    api.register_blueprint(whatsapp_channels.blp)
    api.register_blueprint(conversations.blp)
    api.register_blueprint(workout_plans.blp)
    api.register_blueprint(export.blp)
    api.register_blueprint(webhooks.blp)
    idempotency.install(
        app,
        api.spec,
        tenants.blp.name,
        users.blp.name,
        integrations.blp.name,
        phone_numbers.blp.name,
        whatsapp_channels.blp.name,
        conversations.blp.name,
        workout_plans.blp.name,
    )
    app.register_blueprint(docs.blp)
    tenancy.allow_any_host(app, health.blp.name, "api-docs", docs.blp.name)
    # Routed by number, not by host: no tenant is resolved for them, and
    # they refuse any host but a platform one themselves.
    tenancy.allow_any_host(app, webhooks.blp.name)
    errors.init_app(app)
