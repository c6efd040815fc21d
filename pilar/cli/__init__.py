"""Command line: ``flask tenants …`` and what ``flask shell`` offers."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Flask

from pilar import models
from pilar.cli import archives  # noqa: F401  # adds `flask tenants export` and `import`
from pilar.cli import moves  # noqa: F401  # adds `flask tenants move`
from pilar.cli import nodes
from pilar.cli import tenants
from pilar.db.extensions import db
from pilar.tenancy import tenant_scope


def init_app(app: Flask) -> None:
    app.cli.add_command(tenants.group)
    app.cli.add_command(nodes.group)
    app.shell_context_processor(_shell_context)


def _shell_context() -> dict[str, Any]:
    context: dict[str, Any] = {"db": db, "sa": sa, "tenant_scope": tenant_scope}
    context.update({name: getattr(models, name) for name in models.__all__})
    return context
