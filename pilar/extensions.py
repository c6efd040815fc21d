"""Unbound extension instances; ``pilar.app`` binds them to the application.

flask-smorest's ``Api`` keeps one OpenAPI spec for the last app it was bound
to, so ``pilar.api`` makes one per app instead of sharing an instance here.
"""

from __future__ import annotations

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

db = SQLAlchemy()
migrate = Migrate()
