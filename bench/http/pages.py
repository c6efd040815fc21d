"""The list's query and page in plain psycopg, for the floor and the hot path."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import sql

from pilar.services.pagination import encode_cursor

# The unfiltered first page, newest first; {} is the tenant's db schema.
CONVERSATIONS = sql.SQL(
    "SELECT id, channel, transcript, metadata, created_at, updated_at "
    "FROM {}.conversations ORDER BY created_at DESC, id DESC LIMIT %s"
)


def conversation_page(rows: Sequence[Sequence[Any]], limit: int) -> dict[str, Any]:
    """Return ``{items, next_cursor}`` from up to ``limit + 1`` rows of
    (id, channel, transcript, metadata, created_at, updated_at), newest first.
    """
    items = [
        {
            "channel": channel,
            "created_at": created_at.isoformat(),
            "id": str(row_id),
            "metadata": metadata,
            "transcript": transcript,
            "updated_at": updated_at.isoformat(),
        }
        for row_id, channel, transcript, metadata, created_at, updated_at in rows[
            :limit
        ]
    ]
    last = rows[limit - 1] if len(rows) > limit else None
    return {
        "items": items,
        "next_cursor": encode_cursor(last[4], last[0]) if last else None,
    }
