"""The base of every page that shows one tenant's data: who may, and which tenant.

Every such page has the tenant in its URL, ``/admin/t/<tenant_id>/…``, on
platform and tenant hosts alike. Before a view runs, the signed-in person is
checked and the URL's tenant is bound through ``pilar.tenancy`` (a tenant host
accepts only its own id, so another tenant's URL is a 404).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from flask import Blueprint
from flask import abort
from flask import g
from flask import redirect
from flask import render_template
from flask import url_for
from flask_admin.base import BaseView
from markupsafe import Markup
from werkzeug.exceptions import HTTPException

from pilar.admin import access
from pilar.admin.editing import ServiceModelView
from pilar.db.extensions import db

_WRITE_VIEWS = frozenset(
    {"create_view", "edit_view", "delete_view", "action_view", "ajax_update"}
)

Formatter = Callable[[Any, Any, Any, str], Any]


def tenant_url(slug: str) -> str:
    return f"/admin/t/<uuid:tenant_id>/{slug}"


class TenantPageMixin:
    """Signs in, binds the URL's tenant and restricts writes, before any view."""

    #: Users and integrations: OWNER and ADMIN only, as in the API.
    managers_only = False

    def create_blueprint(self, admin: Any) -> Blueprint:
        # A mixin: the Flask-Admin view after it in the MRO has create_blueprint.
        blueprint: Blueprint = super().create_blueprint(admin)  # type: ignore[misc]  # see above
        blueprint.url_value_preprocessor(_take_tenant_id)
        blueprint.url_defaults(_add_tenant_id)
        blueprint.register_error_handler(HTTPException, error_page)
        return blueprint

    def is_accessible(self) -> bool:
        principal = access.current_principal()
        if principal is None or access.browsed_tenant_id() is None:
            return False
        return principal.may_write or not self.managers_only

    def is_visible(self) -> bool:
        return self.is_accessible()

    def _handle_view(self, name: str, **kwargs: Any) -> Any:
        principal = access.current_principal()
        if principal is None:
            return redirect(url_for("admin.login_view"))
        access.enter_tenant(g.get("admin_tenant_id"))
        if (self.managers_only or name in _WRITE_VIEWS) and not principal.may_write:
            abort(403, "Your role may only read here.")
        return None


def _take_tenant_id(endpoint: str | None, values: dict[str, Any] | None) -> None:
    # The views never see the tenant id: _handle_view binds it instead.
    if values and "tenant_id" in values:
        g.admin_tenant_id = values.pop("tenant_id")


def _add_tenant_id(endpoint: str, values: dict[str, Any]) -> None:
    tenant_id = access.browsed_tenant_id()
    if tenant_id is not None:
        values.setdefault("tenant_id", tenant_id)


def error_page(error: HTTPException) -> tuple[str, int]:
    status = error.code or 500
    return render_template(
        "admin/pilar/error.html", status=status, message=error.description
    ), status


def pretty_json(value: Any) -> Markup:
    return Markup("<pre class='mb-0'>{}</pre>").format(
        json.dumps(value, indent=2, ensure_ascii=False)
    )


class BrowserView(TenantPageMixin, ServiceModelView):
    """A paged, sortable, searchable table of one tenant's rows, edited via services."""

    page_size = 20
    can_set_page_size = True
    can_view_details = True
    column_default_sort = ("created_at", True)
    action_disallowed_list = ("delete",)

    #: Keys of ``present`` shown pretty-printed in the detail view.
    json_columns: tuple[str, ...] = ()

    def __init__(self, model: type[Any], *, name: str, slug: str) -> None:
        super().__init__(
            model,
            db,
            name=name,
            endpoint=f"admin_{slug.replace('-', '_')}",
            url=tenant_url(slug),
        )
        self.column_formatters_detail: dict[str, Formatter] = {
            **(self.column_formatters_detail or {}),
            **self._json_formatters(),
        }

    @property
    def can_create(self) -> bool:
        return self._may_write()

    @property
    def can_edit(self) -> bool:
        return self._may_write()

    @property
    def can_delete(self) -> bool:
        return self._may_write()

    def _may_write(self) -> bool:
        principal = access.current_principal()
        return principal is not None and principal.may_write

    def _json_formatters(self) -> dict[str, Formatter]:
        def formatter(key: str) -> Formatter:
            return lambda view, context, model, name: pretty_json(
                self.present(model).get(key)
            )

        return {attribute: formatter(key) for attribute, key in self.json_columns_map()}

    def json_columns_map(self) -> list[tuple[str, str]]:
        """Return (model attribute, key of ``present``) of each JSON column."""
        return [(key, key) for key in self.json_columns]


class PublicRowsView(BrowserView):
    """Rows of a ``public`` table that belong to the browsed tenant only."""

    managers_only = True

    def get_query(self) -> Any:
        return super().get_query().filter(self.model.tenant_id == _tenant_id())

    def get_count_query(self) -> Any:
        return (
            db.session.query(sa.func.count("*"))
            .select_from(self.model)
            .filter(self.model.tenant_id == _tenant_id())
        )


def _tenant_id() -> uuid.UUID:
    tenant_id = access.browsed_tenant_id()
    if tenant_id is None:
        abort(404)
    return tenant_id


class TenantBaseView(TenantPageMixin, BaseView):
    """A plain page about the browsed tenant."""
