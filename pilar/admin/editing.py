"""Browser views whose rows change through the API's schemas and services.

A form only carries what was typed: the API's marshmallow schema loads it and
the service does the change, so the browser and the API keep one set of
rules. A refused form is shown again with its messages and status 422.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any

from flask import Blueprint
from flask import Response
from flask import abort
from flask import flash
from flask import request
from flask_admin.contrib.sqla import ModelView
from flask_admin.form import SecureForm
from wtforms import Form

from pilar.admin.forms import InvalidFormError
from pilar.admin.forms import load
from pilar.admin.forms import report_errors
from pilar.db.extensions import db
from pilar.errors import PilarError
from pilar.validation.storable import is_storable

_FORM_VIEWS = ("create_view", "edit_view")


def _usable(flt: Any, value: str) -> bool:
    if not is_storable(value):
        return False
    try:
        flt.clean(value)
    except (KeyError, ValueError, TypeError):
        return False
    return bool(flt.validate(value))


class ServiceModelView(ModelView):
    """A model's rows, looked up by id and changed through services.

    Subclasses name ``form``, the API's ``create_schema``/``update_schema``,
    what the edit form starts with (``present``, or the API's
    ``response_schema`` that it dumps), how a form becomes a payload, and
    the service calls.
    """

    form_base_class = SecureForm

    create_schema: type[Any]
    update_schema: type[Any]
    response_schema: type[Any] | None = None

    def create_blueprint(self, admin: Any) -> Blueprint:
        blueprint: Blueprint = super().create_blueprint(admin)
        blueprint.after_request(_refused_form_status)
        return blueprint

    def present(self, model: Any) -> dict[str, Any]:
        """Return the row as the API shows it: secrets left out."""
        if self.response_schema is None:
            raise NotImplementedError
        presented: dict[str, Any] = self.response_schema().dump(model)
        return presented

    def _get_list_filter_args(self) -> list[Any] | None:
        # Flask-Admin's own loop, but a value is checked by ``_usable`` first:
        # its ``validate`` catches only ValueError from ``clean``, which
        # raises KeyError for a name no enum member has, and PostgreSQL
        # refuses a NUL. A value it cannot use is dropped with a message, as
        # Flask-Admin drops what ``validate`` refuses.
        if not self._filters:
            return None
        filters = []
        for arg in request.args:
            if not arg.startswith("flt") or "_" not in arg:
                continue
            position, key = arg[3:].split("_", 1)
            if key not in self._filter_args:
                continue
            index, flt = self._filter_args[key]
            value = request.args[arg]
            if _usable(flt, value):
                filters.append((position, (index, str(flt.name), value)))
            else:
                flash(self.get_invalid_value_msg(value, flt), "error")
        return [item for _, item in sorted(filters, key=lambda pair: pair[0])]

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


def _refused_form_status(response: Response) -> Response:
    # Flask-Admin shows a refused form again with 200; say 422, as the API does.
    endpoint = request.endpoint or ""
    refused = request.method == "POST" and response.status_code == 200
    if refused and endpoint.endswith(_FORM_VIEWS):
        response.status_code = 422
    return response
