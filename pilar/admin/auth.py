"""``/admin/``: signing in and out of the data browser, and where it starts."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask import Response
from flask import abort
from flask import flash
from flask import redirect
from flask import url_for
from flask_admin import AdminIndexView
from flask_admin import expose
from flask_admin.helpers import get_form_data
from flask_admin.helpers import is_form_submitted
from flask_admin.helpers import validate_form_on_submit
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from pilar.admin import access
from pilar.admin.browser import error_page
from pilar.admin.forms import PlatformSignInForm
from pilar.admin.forms import SignInForm
from pilar.admin.forms import SignOutForm
from pilar.errors import AuthenticationError
from pilar.errors import TooManyRequestsError
from pilar.tenancy import current_tenant
from pilar.tenancy import is_platform_request


class HomeView(AdminIndexView):
    """Sends the signed-in to their start page and everyone else to sign in."""

    def __init__(self) -> None:
        super().__init__(name="Home", endpoint="admin", url="/admin")

    def create_blueprint(self, admin: Any) -> Blueprint:
        blueprint: Blueprint = super().create_blueprint(admin)
        blueprint.register_error_handler(HTTPException, error_page)
        return blueprint

    def is_visible(self) -> bool:
        return False

    @expose("/")
    def index(self) -> BaseResponse:
        principal = access.current_principal()
        if principal is None:
            return redirect(url_for(".login_view"))
        if principal.is_platform:
            return redirect(url_for("admin_tenants.index_view"))
        return redirect(url_for("admin_tenant.index", tenant_id=current_tenant().id))

    @expose("/login", methods=("GET", "POST"))
    def login_view(self) -> Any:
        form_class = PlatformSignInForm if is_platform_request() else SignInForm
        form = form_class(get_form_data())
        if not validate_form_on_submit(form):
            if "csrf_token" in form.errors:
                abort(400, "The form's CSRF token is missing or expired.")
            return self._login_page(form, 422 if is_form_submitted() else 200)
        try:
            if isinstance(form, PlatformSignInForm):
                access.sign_in_platform(form.token.data)
            else:
                access.sign_in_user(form.email.data, form.password.data)
        except TooManyRequestsError as err:
            flash(err.message, "error")
            response = self._login_page(form, 429)
            response.headers["Retry-After"] = str(err.retry_after)
            return response
        except AuthenticationError as err:
            flash(err.message, "error")
            return self._login_page(form, 401)
        return redirect(url_for(".index"))

    @expose("/logout", methods=("POST",))
    def logout_view(self) -> BaseResponse:
        if not SignOutForm(get_form_data()).validate():
            abort(400, "The form's CSRF token is missing or expired.")
        access.sign_out()
        flash("Signed out.", "info")
        return redirect(url_for(".login_view"))

    def _login_page(self, form: Any, status: int) -> Response:
        response = Response(self.render("admin/pilar/login.html", form=form))
        response.status_code = status
        return response
