"""The way from each revision to a run's destination, computed and rendered once.

A migration run over thousands of tenants sends every tenant the same
revisions. Their SQL is rendered once (Alembic's offline mode, naming no db
schema) and sent to each tenant with its db schema bound, in one batch per
tenant, instead of running Alembic's machinery once per tenant. A revision
that cannot be rendered runs through Alembic (``migrations.render_upgrade``).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable

import sqlalchemy as sa
from alembic.script.revision import RevisionError

from pilar.tenancy.fleet.migrations import render_upgrade
from pilar.tenancy.fleet.migrations import script_directory


@dataclasses.dataclass(frozen=True)
class Segment:
    """Consecutive revisions that end at ``revision``.

    ``sql`` is their rendered SQL, one batch; ``None`` means the segment runs
    through Alembic.
    """

    revision: str
    sql: str | None


class Upgrades:
    """The segments from each starting revision to ``destination``; thread-safe."""

    def __init__(self, location: str, destination: str, dialect: sa.Dialect) -> None:
        self.location = location
        self.destination = destination
        self._dialect = dialect
        self._lock = threading.Lock()
        self._paths: dict[str, tuple[Segment, ...] | ValueError] = {}

    def path(self, current: str) -> tuple[Segment, ...]:
        """Return the segments from ``current`` to the destination, in order.

        Raises ``ValueError`` when the destination is not an upgrade of
        ``current``.
        """
        with self._lock:
            if current not in self._paths:
                self._paths[current] = self._compute(current)
            found = self._paths[current]
        if isinstance(found, ValueError):
            raise found
        return found

    def rendered_sql(self, current: str | None) -> str | None:
        """Return the SQL from ``current`` to the destination, if all rendered.

        ``None`` when part of the way runs through Alembic, or there is none.
        """
        if current is None:
            return None
        try:
            segments = self.path(current)
        except ValueError:
            return None
        if len(segments) == 1 and segments[0].sql is not None:
            return segments[0].sql
        return None

    def is_rendered(self, starts: Iterable[str | None]) -> bool:
        """Tell whether every path from ``starts`` is rendered SQL only."""
        for start in set(starts):
            if start is None:
                return False
            try:
                segments = self.path(start)
            except ValueError:
                continue
            if any(segment.sql is None for segment in segments):
                return False
        return True

    def _compute(self, current: str) -> tuple[Segment, ...] | ValueError:
        script = script_directory(self.location)
        try:
            revisions = list(script.iterate_revisions(self.destination, current))
        except RevisionError as err:
            return ValueError(f"Cannot upgrade from {current}: {err}")
        segments: list[Segment] = []
        previous = current
        for revision in reversed(revisions):
            # Only a straight line is rendered: merges and branches touch more
            # than one row of alembic_version, which Alembic keeps right.
            is_linear = revision.down_revision == previous
            sql = render_upgrade(revision, self._dialect) if is_linear else None
            last = segments[-1] if segments else None
            if sql is not None and last is not None and last.sql is not None:
                segments.pop()
                sql = last.sql + sql
            segments.append(Segment(revision.revision, sql))
            previous = revision.revision
        return tuple(segments)
