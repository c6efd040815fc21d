"""Failed sign-ins per tenant and email: the counters that throttle password guessing.

Kept in the database rather than in process memory so that every worker of
every server counts the same attempts, and a restart forgives nothing.
"""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy import orm

from pilar.models.base import PublicModel


class LoginFailure(PublicModel):
    __tablename__ = "login_failures"

    tenant_id: orm.Mapped[uuid.UUID] = orm.mapped_column(
        sa.ForeignKey("public.tenants.id", ondelete="CASCADE"), primary_key=True
    )
    # Lower-cased, whether or not a user has it: unknown emails are throttled
    # alike, so a 429 tells nothing about who has an account.
    email: orm.Mapped[str] = orm.mapped_column(sa.String(320), primary_key=True)
    # Failures in a row, each within FAILURE_WINDOW of the one before.
    failures: orm.Mapped[int] = orm.mapped_column(sa.Integer)
    last_failed_at: orm.Mapped[dt.datetime] = orm.mapped_column(
        sa.DateTime(timezone=True), index=True
    )
    locked_until: orm.Mapped[dt.datetime | None] = orm.mapped_column(
        sa.DateTime(timezone=True)
    )
