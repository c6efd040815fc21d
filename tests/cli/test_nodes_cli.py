"""``flask nodes list``: every node, its tenants, whether it answers; never a URL."""

from __future__ import annotations

from pilar.db.extensions import db
from pilar.tenancy import get_nodes
from tests.conftest import make_app
from tests.conftest import nodes_setting


def test_nodes_list_shows_every_node_and_no_url(nodes_app, make_node_tenant, node_urls):
    make_node_tenant(node="eu3")
    result = nodes_app.test_cli_runner().invoke(args=["nodes", "list"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["NAME", "TENANTS", "REACHABLE", "PLACEMENT"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:]}
    assert sorted(rows) == ["default", "eu2", "eu3"]
    assert int(rows["eu3"][0]) >= 1
    assert rows["default"][1:] == ["yes", "yes"]
    assert rows["eu2"][1:] == ["yes", "no"]
    for url in node_urls.values():
        assert url.rsplit("/", 1)[-1] not in result.output


def test_nodes_list_says_which_node_does_not_answer(database_url, app, node_urls):
    gone = {**node_urls, "gone": "postgresql://postgres@127.0.0.1:1/nowhere"}
    down = make_app(database_url, NODES=nodes_setting(gone))
    try:
        result = down.test_cli_runner().invoke(args=["nodes", "list"])
        assert result.exit_code == 0, result.output
        rows = {
            line.split()[0]: line.split()[1:] for line in result.output.splitlines()
        }
        assert rows["gone"][1] == "no"
        assert rows["eu2"][1] == "yes"
    finally:
        with down.app_context():
            get_nodes().dispose()
            db.engine.dispose()
