"""The embedded PostgreSQL (pgserver) used when ``DATABASE_URL`` is unset."""

from __future__ import annotations

import logging
import os
from pathlib import Path

logger = logging.getLogger(__name__)


def start(instance_path: str) -> tuple[str, object]:
    """Start (or join) the embedded server kept in the instance folder.

    Returns its URL and a handle to keep: the server listens on a unix socket
    only and stops when the last process holding a handle exits.
    """
    import pgserver  # imported here: only the embedded mode needs it

    # initdb refuses to run without a UTF-8 locale it knows.
    os.environ.setdefault("LC_ALL", "C.UTF-8")
    pgdata = Path(instance_path) / "pgdata"
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(pgdata)
    logger.warning("Using the embedded PostgreSQL in %s", pgdata)
    return server.get_uri(), server
