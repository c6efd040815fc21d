"""The platform admin's list of tenants, and each tenant's home page in the browser."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from flask import Blueprint
from flask import abort
from flask import redirect
from flask import url_for
from flask_admin import expose
from markupsafe import Markup
from werkzeug.exceptions import HTTPException
from wtforms import Form

from pilar.admin import access
from pilar.admin.browser import TenantBaseView
from pilar.admin.browser import error_page
from pilar.admin.browser import tenant_url
from pilar.admin.editing import ServiceModelView
from pilar.admin.forms import TenantForm
from pilar.db.extensions import db
from pilar.models import Conversation
from pilar.models import PhoneNumber
from pilar.models import Tenant
from pilar.models import TenantIntegration
from pilar.models import TenantUser
from pilar.models import WhatsAppChannel
from pilar.models import WorkoutPlan
from pilar.schemas.tenants import TenantSchema
from pilar.schemas.tenants import TenantUpdateSchema
from pilar.services import tenants as tenant_service
from pilar.tenancy import current_tenant
from pilar.tenancy import is_platform_request

# (endpoint of its view, name, model, whether it is a public table whose rows
# carry a tenant_id)
TABLES: tuple[tuple[str, str, type[Any], bool], ...] = (
    ("admin_users", "Users", TenantUser, True),
    ("admin_integrations", "Integrations", TenantIntegration, True),
    ("admin_phone_numbers", "Phone numbers", PhoneNumber, False),
    ("admin_whatsapp_channels", "WhatsApp channels", WhatsAppChannel, False),
    ("admin_conversations", "Conversations", Conversation, False),
    ("admin_workout_plans", "Workout plans", WorkoutPlan, False),
)


def _open_link(view: Any, context: Any, model: Tenant, name: str) -> Markup:
    url = url_for("admin_tenant.index", tenant_id=model.id)
    return Markup('<a href="{}">{}</a>').format(url, model.name)


class TenantsView(ServiceModelView):
    """Every tenant, for the platform admin; name, domain and status editable.

    Creating and deleting a tenant stay with the API and the CLI: both build
    or drop a whole db schema.
    """

    form = TenantForm
    update_schema = TenantUpdateSchema
    response_schema = TenantSchema
    can_create = False
    can_edit = True
    can_delete = False
    can_view_details = False
    page_size = 20
    column_list = ("name", "domain", "status", "schema_revision", "created_at")
    column_labels = {"schema_revision": "Revision"}  # noqa: RUF012
    column_formatters = {"name": _open_link}  # noqa: RUF012
    column_searchable_list = ("name", "domain")
    column_filters = ("status", "created_at")
    column_sortable_list = ("name", "domain", "status", "created_at")
    column_default_sort = ("created_at", True)

    def __init__(self) -> None:
        super().__init__(
            Tenant,
            db,
            name="Tenants",
            endpoint="admin_tenants",
            url="/admin/tenants",
        )

    def create_blueprint(self, admin: Any) -> Blueprint:
        blueprint: Blueprint = super().create_blueprint(admin)
        blueprint.register_error_handler(HTTPException, error_page)
        return blueprint

    def is_accessible(self) -> bool:
        principal = access.current_principal()
        return principal is not None and principal.is_platform

    def is_visible(self) -> bool:
        return self.is_accessible()

    def _handle_view(self, name: str, **kwargs: Any) -> Any:
        # Tenant hosts never serve the platform's pages, as with the API.
        if not is_platform_request():
            abort(404)
        if access.current_principal() is None:
            return redirect(url_for("admin.login_view"))
        return None

    def payload(self, form: Form, *, creating: bool) -> Mapping[str, Any]:
        return {
            "name": form.name.data,
            "domain": form.domain.data,
            "status": form.status.data,
        }

    def update_record(self, model: Any, data: dict[str, Any], form: Form) -> Any:
        return tenant_service.update_tenant(model.id, **data)


class TenantHomeView(TenantBaseView):
    """One tenant at a glance: how many rows each of its tables holds."""

    def __init__(self) -> None:
        super().__init__(name="Overview", endpoint="admin_tenant", url=tenant_url(""))

    @expose("/")
    def index(self) -> str:
        tenant = current_tenant()
        principal = access.current_principal()
        tables = []
        for endpoint, name, model, is_public in TABLES:
            if is_public and not (principal and principal.may_write):
                continue
            statement = sa.select(sa.func.count()).select_from(model)
            if is_public:
                statement = statement.where(model.tenant_id == tenant.id)
            tables.append(
                {
                    "endpoint": endpoint,
                    "name": name,
                    "count": db.session.scalar(statement),
                }
            )
        page: str = self.render(
            "admin/pilar/tenant_home.html", tenant=tenant, tables=tables
        )
        return page
