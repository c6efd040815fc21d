"""Platform API: ``/api/v1/nodes`` (docs/nodes.md)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from pilar import tenancy
from pilar.api.blueprint import Blueprint
from pilar.api.errors import error_responses
from pilar.api.platform import SECURITY
from pilar.api.platform import require_platform_admin
from pilar.schemas.nodes import NodeListSchema

blp = Blueprint(
    "nodes",
    __name__,
    url_prefix="/api/v1/nodes",
    description="The PostgreSQL nodes that hold tenants: platform hosts only.",
)
blp.before_request(require_platform_admin)


@blp.route("")
class Nodes(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, NodeListSchema)
    @error_responses(blp, 401, descriptions={401: "No admin token, or a wrong one."})
    def get(self) -> dict[str, Any]:
        """List the nodes, sorted by name

        Each with its number of tenants, whether it answers now, and whether
        new tenants are placed on it. Never a URL or password.
        """
        return {"items": tenancy.node_statuses()}
