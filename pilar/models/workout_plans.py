"""A Gym Buddy workout plan, optionally for one member of the studio."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.dialects import postgresql

from pilar.models.base import IdMixin
from pilar.models.base import TenantModel
from pilar.models.base import TimestampMixin


class WorkoutPlan(IdMixin, TimestampMixin, TenantModel):
    __tablename__ = "workout_plans"

    user_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    plan: orm.Mapped[dict[str, Any]] = orm.mapped_column(
        postgresql.JSONB, default=dict, server_default=sa.text("'{}'::jsonb")
    )

    __table_args__ = (
        sa.Index(None, "created_at", "id"),
        sa.Index(None, "user_id", "created_at", "id"),
    )
