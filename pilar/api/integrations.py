"""``/api/v1/integrations``: the integrations of a tenant, one per type."""

from __future__ import annotations

from typing import Any

from apispec import APISpec
from flask.views import MethodView

from pilar.api.auth import SECURITY
from pilar.api.auth import authenticate
from pilar.api.auth import current_user
from pilar.api.auth import roles_required
from pilar.api.blueprint import Blueprint
from pilar.api.errors import error_responses
from pilar.models import Role
from pilar.models import TenantIntegrationType
from pilar.schemas.integrations import CONFIG_RULES
from pilar.schemas.integrations import CONFIG_SCHEMAS
from pilar.schemas.integrations import IntegrationPageSchema
from pilar.schemas.integrations import IntegrationSchema
from pilar.schemas.integrations import config_component
from pilar.schemas.integrations import integration_put_schema
from pilar.schemas.integrations import load_config
from pilar.schemas.pagination import PageArgsSchema
from pilar.services import integrations as integration_service
from pilar.services.pagination import RowPage

blp = Blueprint(
    "integrations",
    __name__,
    url_prefix="/api/v1/integrations",
    description="The tenant's integrations, one per type: OWNER and ADMIN only. "
    "Secrets are write-only: responses list them in `secrets_set`.",
)
blp.before_request(authenticate)

blp.before_request(roles_required(Role.OWNER, Role.ADMIN))


def register_schemas(spec: APISpec) -> None:
    """Add each type's config schema to the OpenAPI components.

    A PUT may omit a stored secret and keep it, so the document requires no
    secret (``writeOnly``) of these schemas or of the objects nested in them;
    the server answers 422 when a required one is neither sent nor stored.
    """
    before = set(spec.components.schemas)
    for type_, schema in CONFIG_SCHEMAS.items():
        spec.components.schema(
            config_component(type_), CONFIG_RULES.get(type_), schema=schema
        )
    for name in set(spec.components.schemas) - before:
        component = spec.components.schemas[name]
        secrets = {
            key
            for key, prop in component.get("properties", {}).items()
            if prop.get("writeOnly")
        }
        required = [key for key in component.get("required", []) if key not in secrets]
        if required:
            component["required"] = required
        else:
            component.pop("required", None)


def present(integration: integration_service.Stored) -> dict[str, Any]:
    """Return an integration as the API shows it: its config without secrets."""
    return {
        "id": integration.id,
        "type": integration.type,
        "config": integration_service.public_config(integration),
        "active": integration.active,
        "secrets_set": integration_service.secrets_set(integration),
        "created_at": integration.created_at,
        "updated_at": integration.updated_at,
    }


@blp.route("")
class Integrations(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, IntegrationPageSchema)
    @error_responses(blp, 401, 403)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """List the integrations that are set up, newest first"""
        page: RowPage = integration_service.list_integrations(
            current_user().tenant_id, **args
        )
        return {
            "items": [present(item) for item in page.items],
            "next_cursor": page.next_cursor,
        }


def _route(type_: TenantIntegrationType) -> None:
    """Serve ``type_``'s integration at ``/api/v1/integrations/<type>``.

    A path per type, not one with the type as a parameter: the body of a PUT
    depends on the type, and only a path of its own can say so in OpenAPI.
    """
    put_schema = integration_put_schema(type_)

    class IntegrationsOfType(MethodView):
        @blp.doc(security=SECURITY)
        @blp.response(200, IntegrationSchema)
        @error_responses(blp, 401, 403, 404)
        def get(self) -> dict[str, Any]:
            """Show the integration of this type

            404 when it is not set up.
            """
            return present(
                integration_service.get_integration(current_user().tenant_id, type_)
            )

        @blp.doc(security=SECURITY)
        @blp.arguments(put_schema)
        @blp.response(200, IntegrationSchema, description="Replaced.")
        @blp.alt_response(
            201, schema=IntegrationSchema, description="Created.", success=True
        )
        @error_responses(blp, 400, 401, 403, 409, 413, 415)
        def put(self, data: dict[str, Any]) -> tuple[dict[str, Any], int]:
            """Set up or replace the integration of this type

            `config` follows the type's config schema; unknown keys get 422.
            Secrets that are omitted keep their stored values (a required one
            must be set once); an optional one set to null is removed.
            """
            config = load_config(type_, data["config"])
            integration, created = integration_service.put_integration(
                current_user().tenant_id, type_, config=config, active=data["active"]
            )
            return present(integration), 201 if created else 200

        @blp.doc(security=SECURITY)
        @blp.response(204)
        @error_responses(blp, 401, 403, 404)
        def delete(self) -> None:
            """Remove the integration of this type and its secrets"""
            integration_service.delete_integration(current_user().tenant_id, type_)

    blp.route(f"/{type_.value.lower()}", endpoint=f"{type_.value.lower()}")(
        IntegrationsOfType
    )


for _type in TenantIntegrationType:
    _route(_type)
