"""The tenant's workout plans, optionally for one member each."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from pilar.db.extensions import db
from pilar.models import WorkoutPlan
from pilar.services.lookups import get_by_id
from pilar.services.pagination import KeysetList
from pilar.services.pagination import RowPage

_LIST = KeysetList(WorkoutPlan, user_id=lambda c, value: c.user_id == value)


def list_workout_plans(
    *, user_id: str | None = None, limit: int, cursor: str | None = None
) -> RowPage:
    """Return a page of workout plans (rows), newest first; ``user_id`` is exact."""
    return _LIST.page(db.session, limit=limit, cursor=cursor, user_id=user_id)


def get_workout_plan(workout_plan_id: uuid.UUID) -> WorkoutPlan:
    return get_by_id(WorkoutPlan, workout_plan_id, "Workout plan")


def create_workout_plan(
    *, plan: Mapping[str, Any], user_id: str | None = None
) -> WorkoutPlan:
    """Create a workout plan; commits."""
    workout_plan = WorkoutPlan(user_id=user_id, plan=dict(plan))
    db.session.add(workout_plan)
    db.session.commit()
    return workout_plan


def update_workout_plan(
    workout_plan_id: uuid.UUID, changes: Mapping[str, Any]
) -> WorkoutPlan:
    """Apply ``changes`` (user_id, plan); ``plan`` replaces the stored one; commits."""
    workout_plan = get_workout_plan(workout_plan_id)
    if "user_id" in changes:
        workout_plan.user_id = changes["user_id"]
    if "plan" in changes:
        workout_plan.plan = dict(changes["plan"])
    db.session.commit()
    return workout_plan


def delete_workout_plan(workout_plan_id: uuid.UUID) -> None:
    """Delete the workout plan; commits."""
    workout_plan = get_workout_plan(workout_plan_id)
    db.session.delete(workout_plan)
    db.session.commit()
