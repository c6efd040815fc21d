"""WSGI entry point: ``gunicorn wsgi:app`` and ``flask --app wsgi``."""

from __future__ import annotations

import sys

from pilar import create_app
from pilar.errors import ConfigurationError

try:
    app = create_app()
except ConfigurationError as error:
    # A setting to fix, not a bug to trace: one line, and the exit status of
    # a usage error, for gunicorn and every `flask` command alike.
    print(f"Error: {error}", file=sys.stderr)  # noqa: T201
    raise SystemExit(2) from None
