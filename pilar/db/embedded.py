"""The embedded PostgreSQL (pgserver) used when ``DATABASE_URL`` is unset."""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def start(instance_path: str) -> tuple[str, Any]:
    """Start (or join) the embedded server kept in the instance folder.

    Returns its URL and a handle to keep: the server listens on a unix socket
    only and stops when the last process holding a handle exits.
    """
    pgdata = Path(instance_path) / "pgdata"
    server = start_server(pgdata)
    logger.warning("Using the embedded PostgreSQL in %s", pgdata)
    return server.get_uri(), server


def start_server(pgdata: Path, *, cleanup_mode: str | None = "stop") -> Any:
    """Start a pgserver PostgreSQL with its data in ``pgdata``; return its handle."""
    # initdb refuses to run without a UTF-8 locale it knows.
    os.environ.setdefault("LC_ALL", "C.UTF-8")
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # pgserver keeps its sockets in the user's runtime folder and falls
        # back to /tmp where there is none (containers, CI), saying so.
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
        # Imported here: only the embedded mode needs it. From its own module:
        # pgserver re-exports it without ``as``, which mypy reads as private.
        from pgserver.postgres_server import get_server

        return get_server(pgdata, cleanup_mode=cleanup_mode)
