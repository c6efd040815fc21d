"""Bringing a new, empty db schema to a revision: one entry point for every caller.

Provisioning, ``doctor``'s rebuild of a missing schema, a move's copy on its
target and an import all build through ``build_schema``. The newest revision
is built from its DDL, rendered once per process and checked against what
the migrations build (``pilar.tenancy.fleet.ddl``): replaying every revision
for each new tenant would cost more with every revision. Any other revision,
or a newest one whose DDL could not be checked, runs the migrations through
Alembic. An existing schema is upgraded by ``pilar.tenancy.fleet.runner``,
whose rendered SQL is likewise Alembic's own, produced once.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import current_app

from pilar.tenancy.fleet import ddl
from pilar.tenancy.fleet.migrations import head_revision
from pilar.tenancy.fleet.migrations import upgrade_schema

_TEMPLATES_KEY = "pilar.schema_templates"


def build_schema(
    conn: sa.Connection, schema_name: str, revision: str | None = None
) -> str | None:
    """Bring the new, empty db schema to ``revision`` (by default the newest).

    Returns the revision reached, for the caller to record in
    ``public.tenants``; records nothing itself.
    """
    location = current_app.config["TENANT_MIGRATIONS_DIR"]
    if revision is None or revision == head_revision(location):
        templates: ddl.SchemaTemplates = current_app.extensions.setdefault(
            _TEMPLATES_KEY, ddl.SchemaTemplates()
        )
        return templates.build(conn, schema_name, location)
    return upgrade_schema(conn, schema_name, location, revision, record=False)
