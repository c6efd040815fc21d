"""Tenant API: ``/api/v1/workout-plans`` (docs/api.md)."""

from __future__ import annotations

import uuid
from typing import Any

from flask.views import MethodView

from pilar.api.auth import SECURITY
from pilar.api.auth import authenticate
from pilar.api.blueprint import Blueprint
from pilar.api.errors import error_responses
from pilar.models import WorkoutPlan
from pilar.schemas.workout_plans import WorkoutPlanCreateSchema
from pilar.schemas.workout_plans import WorkoutPlanPageSchema
from pilar.schemas.workout_plans import WorkoutPlanQueryArgsSchema
from pilar.schemas.workout_plans import WorkoutPlanSchema
from pilar.schemas.workout_plans import WorkoutPlanUpdateSchema
from pilar.services import workout_plans as workout_plan_service
from pilar.services.pagination import RowPage

blp = Blueprint(
    "workout_plans",
    __name__,
    url_prefix="/api/v1/workout-plans",
    description="Gym Buddy workout plans, optionally for one member. Any role.",
)
blp.before_request(authenticate)


@blp.route("")
class WorkoutPlans(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(WorkoutPlanQueryArgsSchema, location="query")
    @blp.response(200, WorkoutPlanPageSchema)
    @error_responses(blp, 401)
    def get(self, args: dict[str, Any]) -> RowPage:
        """List workout plans, newest first

        Filter by exact `user_id`; page with `limit` and `cursor`.
        """
        return workout_plan_service.list_workout_plans(**args)

    @blp.doc(security=SECURITY)
    @blp.arguments(WorkoutPlanCreateSchema)
    @blp.response(201, WorkoutPlanSchema)
    @error_responses(blp, 400, 401, 413, 415)
    def post(self, data: dict[str, Any]) -> WorkoutPlan:
        """Create a workout plan

        `plan` is a JSON object; `user_id` is optional.
        """
        return workout_plan_service.create_workout_plan(**data)


@blp.route("/<uuid:workout_plan_id>")
class WorkoutPlansById(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, WorkoutPlanSchema)
    @error_responses(blp, 401, 404)
    def get(self, workout_plan_id: uuid.UUID) -> WorkoutPlan:
        """Show a workout plan"""
        return workout_plan_service.get_workout_plan(workout_plan_id)

    @blp.doc(security=SECURITY)
    @blp.arguments(WorkoutPlanUpdateSchema)
    @blp.response(200, WorkoutPlanSchema)
    @error_responses(blp, 400, 401, 404, 413, 415)
    def patch(self, data: dict[str, Any], workout_plan_id: uuid.UUID) -> WorkoutPlan:
        """Change a workout plan's member or plan

        `plan` replaces the stored plan whole; `user_id` may be set to null.
        """
        return workout_plan_service.update_workout_plan(workout_plan_id, data)

    @blp.doc(security=SECURITY)
    @blp.response(204)
    @error_responses(blp, 401, 404)
    def delete(self, workout_plan_id: uuid.UUID) -> None:
        """Delete a workout plan"""
        workout_plan_service.delete_workout_plan(workout_plan_id)
