"""Alembic env for tenant db schemas; its logic is in pilar.tenancy.fleet.migrations."""

from __future__ import annotations

from alembic import context

from pilar.tenancy.fleet.migrations import run_env

run_env(context)
