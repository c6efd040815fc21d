"""The extra PostgreSQL servers of multi-node tests are real, apart and logical."""

from __future__ import annotations

import time
from collections.abc import Iterator

import psycopg
import pytest

from tests.nodes import NODE_SERVERS_ENV
from tests.nodes import StoppableServer
from tests.nodes import node_servers


def _show(url: str, setting: str) -> str:
    with psycopg.connect(url, connect_timeout=3) as conn:
        row = conn.execute("SELECT current_setting(%s)", [setting]).fetchone()
    assert row is not None
    return str(row[0])


@pytest.fixture(scope="module")
def nodes() -> Iterator[list[str]]:
    with node_servers(2) as urls:
        yield urls


def test_two_node_servers_are_distinct_servers(nodes, database_url):
    assert len(nodes) == 2
    folders = {_show(url, "data_directory") for url in [*nodes, database_url]}
    # Two folders for the nodes, and neither is the main server's.
    assert len(folders) == 3


@pytest.mark.parametrize("index", [0, 1])
def test_node_servers_decode_logically(nodes, index):
    url = nodes[index]
    assert _show(url, "wal_level") == "logical"
    assert int(_show(url, "max_replication_slots")) >= 10
    assert int(_show(url, "max_wal_senders")) >= 10


def test_named_node_servers_are_used_when_they_answer(monkeypatch):
    with StoppableServer() as named:
        monkeypatch.setenv(NODE_SERVERS_ENV, f"  {named.url}\n")
        with node_servers(1) as urls:
            assert urls == [named.url]
        named.stop()
        # One named server is down: all the nodes are temporary ones.
        with node_servers(1) as urls:
            assert urls != [named.url]
            assert _show(urls[0], "wal_level") == "logical"


def test_a_stoppable_server_stops_and_starts_again_with_its_data():
    with StoppableServer() as server:
        with psycopg.connect(server.url, autocommit=True) as conn:
            conn.execute("CREATE TABLE kept (n int)")
            conn.execute("INSERT INTO kept VALUES (1)")
        assert _show(server.url, "wal_level") == "logical"

        server.stop()
        began = time.monotonic()
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(server.url, connect_timeout=1)
        assert time.monotonic() - began < 2

        server.start()
        with psycopg.connect(server.url, connect_timeout=3) as conn:
            assert conn.execute("SELECT n FROM kept").fetchall() == [(1,)]
        url = server.url
    # Gone for good once the block is left.
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=1)
