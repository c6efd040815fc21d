"""The data browser at ``/admin/`` (Flask-Admin): one per app, views made at start-up.

On a platform host the platform admin browses every tenant, choosing one in
the URL (``/admin/t/<tenant_id>/…``); on a tenant host its OWNER and ADMIN
users browse and edit that tenant only, and STAFF users read. Writes go
through the services and the API's schemas; ``pilar.tenancy`` binds the tenant.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask import Flask
from flask_admin import Admin
from flask_admin.base import BaseView
from flask_admin.menu import MenuView
from flask_admin.theme import Bootstrap4Theme

from pilar.admin import access
from pilar.admin import sessions
from pilar.admin.accounts import IntegrationsView
from pilar.admin.accounts import UsersView
from pilar.admin.auth import HomeView
from pilar.admin.forms import SignOutForm
from pilar.admin.records import ConversationsView
from pilar.admin.records import PhoneNumbersView
from pilar.admin.records import WhatsAppChannelsView
from pilar.admin.records import WorkoutPlansView
from pilar.admin.tenants import TenantHomeView
from pilar.admin.tenants import TenantsView


class _Admin(Admin):
    def _add_view_to_menu(self, view: BaseView) -> None:
        # Menu links name the browsed tenant, so they are built per request:
        # Flask-Admin would otherwise cache the first request's URL for all.
        self.add_menu_item(MenuView(view.name, view, cache=False), view.category)

    def principal(self) -> access.Principal | None:
        return access.current_principal()

    def sign_out_form(self) -> SignOutForm:
        return SignOutForm()


def init_app(app: Flask) -> None:
    """Register the browser's views and its session cookie settings on ``app``."""
    # Flask's signed session cookie: HttpOnly already; SameSite keeps other
    # sites' forms from riding on it (CSRF tokens guard every write besides).
    app.config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    if not app.config.get("SESSION_COOKIE_SAMESITE"):
        app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    sessions.init_app(app)
    # Our templates, found by Jinja before Flask-Admin's own.
    app.register_blueprint(
        Blueprint("pilar_admin", __name__, template_folder="templates")
    )
    browser = _Admin(
        app,
        name="PILAR",
        index_view=HomeView(),
        theme=Bootstrap4Theme(base_template="admin/pilar/layout.html"),
    )
    views: list[Any] = [
        TenantsView(),
        TenantHomeView(),
        UsersView(),
        IntegrationsView(),
        PhoneNumbersView(),
        WhatsAppChannelsView(),
        ConversationsView(),
        WorkoutPlansView(),
    ]
    browser.add_views(*views)
