"""Platform API: ``/api/v1/tenants`` (docs/api.md)."""

from __future__ import annotations

import uuid
from typing import Any

from flask.views import MethodView

from pilar.api.blueprint import Blueprint
from pilar.api.errors import error_responses
from pilar.api.idempotency import platform_recorder
from pilar.api.platform import SECURITY
from pilar.api.platform import require_platform_admin
from pilar.config import DEFAULTS
from pilar.models import Tenant
from pilar.schemas.tenants import TenantCreateSchema
from pilar.schemas.tenants import TenantDetailSchema
from pilar.schemas.tenants import TenantPageSchema
from pilar.schemas.tenants import TenantQueryArgsSchema
from pilar.schemas.tenants import TenantSchema
from pilar.schemas.tenants import TenantUpdateSchema
from pilar.services import tenants as tenant_service
from pilar.services.pagination import RowPage
from pilar.tenancy.fleet import provisioning

blp = Blueprint(
    "tenants",
    __name__,
    url_prefix="/api/v1/tenants",
    description="Studios (tenants): platform hosts only, with the admin token.",
)
blp.before_request(require_platform_admin)

# What a create answers with, for its idempotency key.
_TENANT = TenantSchema()

# The platform's wording of what the tenant API's error_responses describe.
_PLATFORM = {
    401: "No admin token, or a wrong one.",
    404: "No such tenant.",
    409: "Domain or schema name taken.",
}
# Other processes see a change when they next reload their tenant directory.
_SEEN_ELSEWHERE = (
    "Takes effect at once in this process, and in others within "
    f"`PILAR_TENANT_CACHE_TTL` seconds ({DEFAULTS['TENANT_CACHE_TTL']:g} by "
    "default) plus one reload of their tenant directory."
)


@blp.route("")
class Tenants(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(TenantQueryArgsSchema, location="query")
    @blp.response(200, TenantPageSchema)
    @error_responses(blp, 401, descriptions=_PLATFORM)
    def get(self, args: dict[str, Any]) -> RowPage:
        """List tenants, newest first

        Filter by `status`, exact `domain` or `node`; page with `limit` and
        `cursor`.
        """
        return tenant_service.list_tenants(**args)

    @blp.doc(security=SECURITY)
    @blp.arguments(TenantCreateSchema)
    @blp.response(201, TenantSchema)
    @error_responses(blp, 400, 401, 409, 413, 415, 503, descriptions=_PLATFORM)
    def post(self, data: dict[str, Any]) -> Tenant:
        """Create a tenant

        Creates the row, the db schema with every tenant table at the newest
        tenant migration, and the optional OWNER user, on the chosen node or
        the placement node with the fewest tenants. On any failure nothing
        remains; a node that cannot be reached gets 503 `node_unavailable`.
        """
        owner = data["owner"]
        return provisioning.create_tenant(
            data["name"],
            data["domain"],
            schema_name=data["schema_name"],
            owner=provisioning.OwnerSpec(**owner) if owner else None,
            node=data["node"],
            in_transaction=platform_recorder(201, _TENANT.dump),
        )


@blp.route("/<uuid:tenant_id>")
class TenantsById(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, TenantDetailSchema)
    @error_responses(blp, 401, 404, descriptions=_PLATFORM)
    def get(self, tenant_id: uuid.UUID) -> Tenant:
        """Show a tenant, with the tenant migration its db schema is at"""
        return tenant_service.get_tenant(tenant_id)

    @blp.doc(security=SECURITY, description=_SEEN_ELSEWHERE)
    @blp.arguments(TenantUpdateSchema)
    @blp.response(200, TenantSchema)
    @error_responses(blp, 400, 401, 404, 409, 413, 415, descriptions=_PLATFORM)
    def patch(self, data: dict[str, Any], tenant_id: uuid.UUID) -> Tenant:
        """Change a tenant's name, domain or status"""
        return tenant_service.update_tenant(tenant_id, **data)

    @blp.doc(security=SECURITY)
    @blp.response(204)
    @error_responses(blp, 401, 404, descriptions=_PLATFORM)
    def delete(self, tenant_id: uuid.UUID) -> None:
        """Delete a tenant: its db schema and every row of it"""
        provisioning.drop_tenant(
            tenant_id, in_transaction=platform_recorder(204, _TENANT.dump)
        )
