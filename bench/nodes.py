"""Nodes for benchmarks: one throwaway database per node, on servers of their own.

The node ``default`` (and the control plane) is a throwaway database on the
benchmark's server (``DATABASE_URL``); every other node is one on a server of
``tests.nodes.node_servers``: those named in PILAR_TEST_NODE_SERVERS, else
temporary servers started for the run.
"""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Mapping
from contextlib import ExitStack
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg

from bench.environment import throwaway_database
from pilar.models import DEFAULT_NODE
from tests.database import throwaway_database as throwaway_database_on


@dataclass(frozen=True)
class NodeDatabases:
    """The libpq URL of each node's database; ``default``'s is the control plane."""

    urls: Mapping[str, str]

    @property
    def control_plane(self) -> str:
        return self.urls[DEFAULT_NODE]

    @property
    def names(self) -> list[str]:
        """``default`` first, then the others in their order."""
        return list(self.urls)

    def setting(self, application_name: str | None = None) -> str:
        """The value of ``PILAR_NODES`` that adds every node but ``default``."""
        return " ".join(
            f"{name}={with_application_name(url, application_name)}"
            for name, url in self.urls.items()
            if name != DEFAULT_NODE
        )


def node_name(number: int) -> str:
    """The name of the ``number``-th node, counting ``default`` as the first."""
    return DEFAULT_NODE if number == 1 else f"node{number}"


def spread(count: int, names: list[str]) -> list[str]:
    """The node of each of ``count`` tenants: in turn, so every node gets its share."""
    return [names[number % len(names)] for number in range(count)]


@contextmanager
def node_databases(count: int, servers: list[str]) -> Iterator[NodeDatabases]:
    """Yield ``count`` nodes: ``default`` and one on each of ``count - 1`` servers."""
    if len(servers) < count - 1:
        raise ValueError(f"{count} nodes need {count - 1} servers, not {len(servers)}")
    with ExitStack() as stack:
        urls = {DEFAULT_NODE: stack.enter_context(throwaway_database())}
        for number, server in enumerate(servers[: count - 1], start=2):
            urls[node_name(number)] = stack.enter_context(
                throwaway_database_on(server, "pilar_bench")
            )
        yield NodeDatabases(urls)


def with_application_name(url: str, application_name: str | None) -> str:
    if application_name is None:
        return url
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}application_name={application_name}"


def connections(
    monitors: Mapping[str, psycopg.Connection[Any]], application_name: str
) -> dict[str, int]:
    """How many connections each node's database has from ``application_name``."""
    counts = {}
    for name, monitor in monitors.items():
        row = monitor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = %s",
            [application_name],
        ).fetchone()
        counts[name] = int(row[0]) if row else 0
    return counts


def describe(databases: NodeDatabases) -> str:
    """One line per node: where it is and the settings that bear on a run."""
    lines = []
    for name, url in databases.urls.items():
        with psycopg.connect(url) as conn:
            settings = conn.execute(
                "SELECT name, setting, unit FROM pg_settings WHERE name = ANY(%s) "
                "ORDER BY name",
                [["fsync", "max_connections", "shared_buffers", "server_version"]],
            ).fetchall()
        shown = ", ".join(f"{key}={value}{unit or ''}" for key, value, unit in settings)
        lines.append(f"  {name}: {url.split('@')[-1]}  {shown}")
    return "\n".join(lines)
