"""Browser views of a tenant's rows in ``public``: its users and its integrations."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wtforms import Form

from pilar.admin import access
from pilar.admin.browser import PublicRowsView
from pilar.admin.forms import IntegrationForm
from pilar.admin.forms import InvalidFormError
from pilar.admin.forms import UserForm
from pilar.admin.forms import report_errors
from pilar.admin.forms import with_secrets
from pilar.errors import ConflictError
from pilar.errors import NotFoundError
from pilar.models import TenantIntegration
from pilar.models import TenantIntegrationType
from pilar.models import TenantUser
from pilar.schemas.integrations import IntegrationPutSchema
from pilar.schemas.integrations import load_config
from pilar.schemas.users import UserCreateSchema
from pilar.schemas.users import UserSchema
from pilar.schemas.users import UserUpdateSchema
from pilar.services import integrations as integration_service
from pilar.services import users as user_service
from pilar.services.users import Actor
from pilar.tenancy import current_tenant

# Form field → dotted path of the secret in an integration's config.
_SECRET_FIELDS = {
    "api_key": "api_key",
    "private_key": "service_account.private_key",
    "private_key_id": "service_account.private_key_id",
}


def _actor() -> Actor:
    principal = access.current_principal()
    if principal is None:  # _handle_view signs in before any write
        raise RuntimeError("No one is signed in.")
    return principal.actor(current_tenant().id)


class UsersView(PublicRowsView):
    form = UserForm
    create_schema = UserCreateSchema
    update_schema = UserUpdateSchema
    response_schema = UserSchema
    column_list = ("email", "role", "created_at", "updated_at")
    column_details_list = ("id", "email", "role", "created_at", "updated_at")
    column_searchable_list = ("email",)
    column_filters = ("role", "created_at")
    column_sortable_list = ("email", "role", "created_at", "updated_at")

    def __init__(self) -> None:
        super().__init__(TenantUser, name="Users", slug="users")

    def payload(self, form: Form, *, creating: bool) -> Mapping[str, Any]:
        data = {"email": form.email.data, "role": form.role.data}
        if creating or form.password.data:
            data["password"] = form.password.data
        return data

    def create_record(self, data: dict[str, Any], form: Form) -> Any:
        return user_service.create_user(_actor(), **data)

    def update_record(self, model: Any, data: dict[str, Any], form: Form) -> Any:
        return user_service.update_user(_actor(), model.id, **data)

    def delete_record(self, model: Any) -> None:
        user_service.delete_user(_actor(), model.id)


class IntegrationsView(PublicRowsView):
    form = IntegrationForm
    create_schema = IntegrationPutSchema
    update_schema = IntegrationPutSchema
    column_list = ("type", "active", "created_at", "updated_at")
    column_details_list = ("id", "type", "active", "config", "created_at")
    column_filters = ("type", "active")
    column_sortable_list = ("type", "active", "created_at", "updated_at")
    column_default_sort = ("created_at", True)
    json_columns = ("config",)

    def __init__(self) -> None:
        super().__init__(TenantIntegration, name="Integrations", slug="integrations")

    def present(self, model: Any) -> dict[str, Any]:
        return {
            "id": model.id,
            "type": model.type.name,
            "active": model.active,
            "config": integration_service.public_config(model),
            "secrets_set": integration_service.secrets_set(model),
        }

    def edit_form(self, obj: Any = None) -> Form:
        form = super().edit_form(obj)
        del form.type  # an integration is one per type: the type never changes
        return form

    def payload(self, form: Form, *, creating: bool) -> Mapping[str, Any]:
        return {"config": form.config.data or {}, "active": form.active.data}

    def _config(self, form: Form, data: dict[str, Any], type_: Any) -> dict[str, Any]:
        allowed = integration_service.SECRET_KEYS[type_]
        typed = {
            path: form[name].data
            for name, path in _SECRET_FIELDS.items()
            if form[name].data
        }
        stray = [path for path in typed if path not in allowed]
        if stray:
            report_errors(
                form,
                {
                    name: [f"The {type_.value} integration has no such secret."]
                    for name, path in _SECRET_FIELDS.items()
                    if path in stray
                },
            )
            raise InvalidFormError
        config = with_secrets(data["config"], typed, form=form)
        return load_config(type_, config)

    def create_record(self, data: dict[str, Any], form: Form) -> Any:
        type_ = TenantIntegrationType[form.type.data]
        tenant_id = current_tenant().id
        try:
            integration_service.get_integration(tenant_id, type_)
        except NotFoundError:
            pass
        else:
            raise ConflictError(
                f"The {type_.value} integration is set up already; edit it instead."
            )
        integration, _ = integration_service.put_integration(
            tenant_id,
            type_,
            config=self._config(form, data, type_),
            active=data["active"],
        )
        return integration

    def update_record(self, model: Any, data: dict[str, Any], form: Form) -> Any:
        integration, _ = integration_service.put_integration(
            model.tenant_id,
            model.type,
            config=self._config(form, data, model.type),
            active=data["active"],
        )
        return integration

    def delete_record(self, model: Any) -> None:
        integration_service.delete_integration(model.tenant_id, model.type)
