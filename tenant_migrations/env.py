"""Alembic env for tenant db schemas; the logic lives in pilar.tenancy.migrations."""

from __future__ import annotations

from alembic import context

from pilar.tenancy.migrations import run_env

run_env(context)
