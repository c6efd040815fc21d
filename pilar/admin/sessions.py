"""Flask's signed-cookie sessions, opened cheaply when no cookie came.

Only the data browser keeps a session. Flask builds the cookie's signing
serializer on every request before it looks for the cookie; API requests
never send one, so an empty session is returned straight away.
"""

from __future__ import annotations

from flask import Flask
from flask import Request
from flask.sessions import SecureCookieSession
from flask.sessions import SecureCookieSessionInterface


class CookieSessionInterface(SecureCookieSessionInterface):
    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)


def init_app(app: Flask) -> None:
    app.session_interface = CookieSessionInterface()
