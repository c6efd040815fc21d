"""bench/http --nodes seeds each node its share, and serves what it seeded."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from bench.http.__main__ import CONVERSATIONS
from bench.http.__main__ import seed
from bench.nodes import NodeDatabases
from bench.nodes import spread
from pilar.models import DEFAULT_NODE
from tests.database import throwaway_database


@pytest.fixture
def databases(database_url: str, node_urls: dict[str, str]) -> Iterator[NodeDatabases]:
    """A control plane and two nodes: databases of this test's own, on the
    suite's servers (the suite's node databases hold other tests' tenants)."""
    with contextlib.ExitStack() as stack:
        urls = {
            DEFAULT_NODE: stack.enter_context(
                throwaway_database(_server_of(database_url))
            )
        }
        for name, url in node_urls.items():
            urls[name] = stack.enter_context(throwaway_database(_server_of(url)))
        yield NodeDatabases(urls)


def _server_of(url: str) -> str:
    # The URL of the server's postgres database, from one of its databases.
    head, _, tail = url.partition("?")
    return head.rsplit("/", 1)[0] + "/postgres" + (f"?{tail}" if tail else "")


def test_spread_gives_every_node_its_share() -> None:
    nodes = spread(7, ["default", "node2", "node3"])
    assert nodes[:3] == ["default", "node2", "node3"]
    assert [nodes.count(name) for name in ("default", "node2", "node3")] == [3, 2, 2]


def test_setting_names_every_node_but_default() -> None:
    databases = NodeDatabases(
        {
            DEFAULT_NODE: "postgresql://h/a",
            "node2": "postgresql://h/b",
            "node3": "postgresql://h/c?sslmode=disable",
        }
    )
    assert (
        databases.setting()
        == "node2=postgresql://h/b node3=postgresql://h/c?sslmode=disable"
    )
    assert databases.setting("bench-1") == (
        "node2=postgresql://h/b?application_name=bench-1 "
        "node3=postgresql://h/c?sslmode=disable&application_name=bench-1"
    )


def test_seed_puts_each_tenant_and_its_rows_on_its_node(
    databases: NodeDatabases,
) -> None:
    targets = seed(databases.control_plane, 5, databases)

    assert [t.node for t in targets] == spread(5, databases.names)
    with psycopg.connect(databases.control_plane) as conn:
        placed: dict[str, str] = dict(
            conn.execute("SELECT schema_name, node FROM public.tenants")
        )
    assert placed == {t.schema_name: t.node for t in targets}
    for name, url in databases.urls.items():
        with psycopg.connect(url) as conn:
            schemas = {
                schema
                for (schema,) in conn.execute(
                    "SELECT nspname FROM pg_namespace WHERE nspname = ANY(%s)",
                    [[t.schema_name for t in targets]],
                )
            }
            assert schemas == {t.schema_name for t in targets if t.node == name}
            for target in targets:
                if target.node != name:
                    continue
                rows = conn.execute(
                    sql.SQL("SELECT id::text FROM {}.conversations").format(
                        sql.Identifier(target.schema_name)
                    )
                ).fetchall()
                assert len(rows) == CONVERSATIONS
                assert {row[0] for row in rows} == target.conversation_ids
