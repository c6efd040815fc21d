"""Temporary copies of ``tenant_migrations/`` with extra revisions, for tests."""

from __future__ import annotations

import shutil
import textwrap
import uuid
from pathlib import Path

SHIPPED = Path(__file__).resolve().parents[1] / "tenant_migrations"
BASE_REVISION = "51c0f7bec657"


def copy_with_revisions(target: Path, bodies: list[str], *, header: str = "") -> Path:
    """Copy the shipped tenant migrations to ``target`` and add ``bodies``.

    Each body is the code of one more revision's ``upgrade()``; ``header``
    goes at module level in each of them (e.g. ``online_only = True``).
    """
    shutil.copytree(SHIPPED, target, ignore=shutil.ignore_patterns("__pycache__"))
    down = BASE_REVISION
    for number, body in enumerate(bodies, start=1):
        revision = f"{number:04d}{uuid.uuid4().hex[:8]}"
        source = (
            f'"""Revision {number}."""\n\n'
            "from __future__ import annotations\n\n"
            "import sqlalchemy as sa\n"
            "from alembic import op\n\n"
            f"revision = {revision!r}\n"
            f"down_revision = {down!r}\n"
            "branch_labels = None\n"
            "depends_on = None\n"
            f"{header}\n\n\n"
            "def upgrade() -> None:\n"
            + textwrap.indent(textwrap.dedent(body).strip(), "    ")
            + "\n\n\ndef downgrade() -> None:\n    pass\n"
        )
        (target / "versions" / f"{revision}.py").write_text(source)
        down = revision
    return target
