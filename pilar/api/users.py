"""``/api/v1/users``: a tenant's users, for its OWNERs and ADMINs."""

from __future__ import annotations

import uuid
from typing import Any

from flask.views import MethodView

from pilar.api.auth import SECURITY
from pilar.api.auth import authenticate
from pilar.api.auth import current_user
from pilar.api.auth import roles_required
from pilar.api.blueprint import Blueprint
from pilar.api.errors import error_responses
from pilar.models import Role
from pilar.models import TenantUser
from pilar.schemas.pagination import PageArgsSchema
from pilar.schemas.users import UserCreateSchema
from pilar.schemas.users import UserPageSchema
from pilar.schemas.users import UserSchema
from pilar.schemas.users import UserUpdateSchema
from pilar.services import users as user_service
from pilar.services.pagination import RowPage

blp = Blueprint(
    "users",
    __name__,
    url_prefix="/api/v1/users",
    description="The tenant's users: OWNER and ADMIN only. Only an OWNER may "
    "create, change or delete an OWNER; the last OWNER stays one.",
)
blp.before_request(authenticate)


blp.before_request(roles_required(Role.OWNER, Role.ADMIN))


@blp.route("")
class Users(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, UserPageSchema)
    @error_responses(blp, 401, 403)
    def get(self, args: dict[str, Any]) -> RowPage:
        """List users, newest first"""
        return user_service.list_users(current_user().tenant_id, **args)

    @blp.doc(security=SECURITY)
    @blp.arguments(UserCreateSchema)
    @blp.response(201, UserSchema)
    @error_responses(blp, 400, 401, 403, 409, 413, 415)
    def post(self, data: dict[str, Any]) -> TenantUser:
        """Create a user

        The role defaults to STAFF. 409 when the email is taken, ignoring case.
        """
        return user_service.create_user(current_user(), **data)


@blp.route("/<uuid:user_id>")
class UsersById(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, UserSchema)
    @error_responses(blp, 401, 403, 404)
    def get(self, user_id: uuid.UUID) -> TenantUser:
        """Show a user"""
        return user_service.get_user(current_user().tenant_id, user_id)

    @blp.doc(security=SECURITY)
    @blp.arguments(UserUpdateSchema)
    @blp.response(200, UserSchema)
    @error_responses(blp, 400, 401, 403, 404, 409, 413, 415)
    def patch(self, data: dict[str, Any], user_id: uuid.UUID) -> TenantUser:
        """Change a user's email, password or role

        A new password ends the user's current tokens. 409 when the email is
        taken or the last OWNER would be demoted.
        """
        return user_service.update_user(current_user(), user_id, **data)

    @blp.doc(security=SECURITY)
    @blp.response(204)
    @error_responses(blp, 401, 403, 404, 409)
    def delete(self, user_id: uuid.UUID) -> None:
        """Delete a user

        Their tokens stop working at once. 409 for the last OWNER.
        """
        user_service.delete_user(current_user(), user_id)
