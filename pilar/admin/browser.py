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
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from flask import Blueprint
from flask import Response
from flask import abort
from flask import flash
from flask import g
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_admin.base import BaseView
from flask_admin.contrib.sqla import ModelView
from flask_admin.form import SecureForm
from markupsafe import Markup
from werkzeug.exceptions import HTTPException
from wtforms import Form

from pilar.admin import access
from pilar.admin.forms import InvalidFormError
from pilar.admin.forms import load
from pilar.admin.forms import report_errors
from pilar.errors import PilarError
from pilar.extensions import db

_WRITE_VIEWS = frozenset(
    {"create_view", "edit_view", "delete_view", "action_view", "ajax_update"}
)
_FORM_VIEWS = ("create_view", "edit_view")

Formatter = Callable[[Any, Any, Any, str], Any]


def tenant_url(slug: str) -> str:
    return f"/admin/t/<uuid:tenant_id>/{slug}"


class TenantPageMixin:
    """Signs in, binds the URL's tenant and restricts writes, before any view."""

    #: Users and integrations: OWNER and ADMIN only, as in the API.
    managers_only = False

    def create_blueprint(self, admin: Any) -> Blueprint:
        blueprint: Blueprint = super().create_blueprint(admin)  # type: ignore[misc]
        blueprint.url_value_preprocessor(_take_tenant_id)
        blueprint.url_defaults(_add_tenant_id)
        blueprint.after_request(_refused_form_status)
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


def _refused_form_status(response: Response) -> Response:
    # Flask-Admin shows a refused form again with 200; say 422, as the API does.
    endpoint = request.endpoint or ""
    refused = request.method == "POST" and response.status_code == 200
    if refused and endpoint.endswith(_FORM_VIEWS):
        response.status_code = 422
    return response


def error_page(error: HTTPException) -> tuple[str, int]:
    status = error.code or 500
    return render_template(
        "admin/pilar/error.html", status=status, message=error.description
    ), status


def pretty_json(value: Any) -> Markup:
    return Markup("<pre class='mb-0'>{}</pre>").format(
        json.dumps(value, indent=2, ensure_ascii=False)
    )


class BrowserView(TenantPageMixin, ModelView):
    """A paged, sortable, searchable table of one tenant's rows, edited via services.

    Subclasses name ``form``, the API's ``create_schema``/``update_schema``,
    how a form becomes a payload, and the service calls.
    """

    form_base_class = SecureForm
    page_size = 20
    can_set_page_size = True
    can_view_details = True
    column_default_sort = ("created_at", True)
    action_disallowed_list = ("delete",)

    create_schema: type[Any]
    update_schema: type[Any]
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

    def present(self, model: Any) -> dict[str, Any]:
        """Return the row as the API shows it: secrets left out."""
        raise NotImplementedError

    def _json_formatters(self) -> dict[str, Formatter]:
        def formatter(key: str) -> Formatter:
            return lambda view, context, model, name: pretty_json(
                self.present(model).get(key)
            )

        return {attribute: formatter(key) for attribute, key in self.json_columns_map()}

    def json_columns_map(self) -> list[tuple[str, str]]:
        """Return (model attribute, key of ``present``) of each JSON column."""
        return [(key, key) for key in self.json_columns]

    def get_one(self, id: Any) -> Any:
        try:
            key = uuid.UUID(str(id))
        except ValueError:
            abort(404)
        model = self.get_query().filter(self.model.id == key).one_or_none()
        if model is None:
            abort(404)
        return model

    def validate_form(self, form: Form) -> bool:
        is_valid: bool = super().validate_form(form)
        if not is_valid and "csrf_token" in form.errors:
            abort(400, "The form's CSRF token is missing or expired; reload the page.")
        return is_valid

    def edit_form(self, obj: Any = None) -> Form:
        form = super().edit_form(obj=None)
        if request.method == "GET":
            form.process(data=self.initial_data(obj))
        return form

    def initial_data(self, model: Any) -> dict[str, Any]:
        """Return what the edit form starts with: never a secret."""
        return self.present(model)

    def create_model(self, form: Form) -> Any:
        return self._attempt(
            form, lambda: self.create_record(self._load(form, creating=True), form)
        )

    def update_model(self, form: Form, model: Any) -> bool:
        return bool(
            self._attempt(
                form,
                lambda: self.update_record(
                    model, self._load(form, creating=False), form
                ),
            )
        )

    def delete_model(self, model: Any) -> bool:
        def delete() -> bool:
            self.delete_record(model)
            return True

        return bool(self._attempt(None, delete))

    def _load(self, form: Form, *, creating: bool) -> dict[str, Any]:
        schema = self.create_schema() if creating else self.update_schema()
        return load(schema, self.payload(form, creating=creating), form)

    def _attempt(self, form: Form | None, action: Callable[[], Any]) -> Any:
        try:
            return action()
        except InvalidFormError as err:
            flash("Not saved: see the messages below.", "error")
            for line in err.args:
                flash(str(line), "error")
            return False
        except PilarError as err:
            db.session.rollback()
            flash(err.message, "error")
            if form is not None and err.errors:
                for line in report_errors(form, err.errors):
                    flash(line, "error")
            return False

    def payload(self, form: Form, *, creating: bool) -> Mapping[str, Any]:
        raise NotImplementedError

    def create_record(self, data: dict[str, Any], form: Form) -> Any:
        raise NotImplementedError

    def update_record(self, model: Any, data: dict[str, Any], form: Form) -> Any:
        raise NotImplementedError

    def delete_record(self, model: Any) -> None:
        raise NotImplementedError


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
