"""Unbound extension instances; ``pilar.app`` binds them to the application.

flask-smorest's ``Api`` keeps one OpenAPI spec for the last app it was bound
to, so ``pilar.api`` makes one per app instead of sharing an instance here.
"""

from __future__ import annotations

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

# After a commit a request only serialises what it wrote; with
# eager defaults the rows are complete, so reloading them would be a wasted query.
db = SQLAlchemy(session_options={"expire_on_commit": False})
migrate = Migrate()
