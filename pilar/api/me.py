"""``GET /api/v1/me``: the signed-in user."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask.views import MethodView

from pilar.api.auth import SECURITY
from pilar.api.auth import authenticate
from pilar.api.auth import current_user
from pilar.api.blueprint import Blueprint
from pilar.api.errors import error_responses
from pilar.schemas.users import UserSchema

blp = Blueprint(
    "me", __name__, url_prefix="/api/v1/me", description="The signed-in user."
)
blp.before_request(authenticate)


@blp.route("")
class Me(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, UserSchema)
    @error_responses(blp, 401)
    def get(self) -> sa.Row[Any]:
        """Show the signed-in user

        Any role may call it.
        """
        return current_user()
