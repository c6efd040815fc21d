"""`flask tenants export` and `flask tenants import`: one line out, conflicts listed."""

from __future__ import annotations

import pytest

from tests.archives import fill_tenant
from tests.archives import rows_of
from tests.archives import tenant_count
from tests.archives import without_placement
from tests.conftest import unique_domain


@pytest.fixture
def invoke(nodes_app):
    def run(*args: str):
        return nodes_app.test_cli_runner().invoke(args=["tenants", *args])

    return run


def test_export_drop_and_import_each_print_one_line(
    nodes_app, make_node_tenant, new_number, tmp_path, invoke
):
    tenant = make_node_tenant(node="eu2")
    fill_tenant(nodes_app, tenant, new_number)
    before = rows_of(nodes_app, tenant.id)
    path = tmp_path / "studio.tar.gz"
    exported = invoke("export", tenant.domain, str(path))
    assert exported.exit_code == 0, exported.output
    assert exported.output.startswith(f"Exported tenant {tenant.domain} (revision ")
    assert exported.output.count("\n") == 1
    assert invoke("drop", tenant.domain, "--yes").exit_code == 0
    domain = unique_domain("imported")
    imported = invoke(
        "import",
        str(path),
        "--domain",
        domain,
        "--schema",
        "imported_cli",
        "--node",
        "eu3",
    )
    assert imported.exit_code == 0, imported.output
    assert imported.output.startswith(
        f"Imported tenant {domain} (schema imported_cli, node eu3, revision "
    )
    assert imported.output.count("\n") == 1
    assert without_placement(rows_of(nodes_app, tenant.id)) == without_placement(before)


def test_an_import_refused_for_conflicts_lists_each_of_them(
    nodes_app, make_node_tenant, new_number, tmp_path, invoke
):
    tenant = make_node_tenant()
    numbers = fill_tenant(nodes_app, tenant, new_number)
    path = tmp_path / "studio.tar"
    assert invoke("export", tenant.domain, str(path)).exit_code == 0
    tenants = tenant_count(nodes_app)
    result = invoke("import", str(path))
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0] == (
        f"Error: Tenant {tenant.domain!r} cannot be imported: 6 conflicts; "
        "nothing was created."
    )
    assert f"  domain: {tenant.domain!r} is taken." in lines
    assert (
        f"  id: Tenant id {str(tenant.id)!r} is taken by tenant {tenant.domain!r}."
        in lines
    )
    for number in numbers.values():
        assert any(line.startswith("  numbers: ") and number in line for line in lines)
    assert tenant_count(nodes_app) == tenants


def test_a_damaged_archive_is_refused_in_one_line(tmp_path, invoke):
    path = tmp_path / "studio.tar.gz"
    path.write_bytes(b"not an archive")
    result = invoke("import", str(path))
    assert result.exit_code == 1
    assert result.output == "Error: The file is not a tar archive.\n"


def test_an_unknown_tenant_is_not_exported(tmp_path, invoke):
    path = tmp_path / "studio.tar.gz"
    result = invoke("export", "nobody.example.com", str(path))
    assert result.exit_code == 1
    assert result.output == "Error: Tenant 'nobody.example.com' does not exist.\n"
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []


def test_an_archive_that_is_not_there_is_a_usage_error(tmp_path, invoke):
    result = invoke("import", str(tmp_path / "missing.tar.gz"))
    assert result.exit_code == 2


def test_an_unknown_node_is_refused(make_node_tenant, tmp_path, invoke):
    tenant = make_node_tenant()
    path = tmp_path / "studio.tar"
    assert invoke("export", tenant.domain, str(path)).exit_code == 0
    result = invoke("import", str(path), "--node", "mars", "--domain", unique_domain())
    assert result.exit_code == 1
    assert "Node 'mars' is not configured." in result.output


@pytest.mark.parametrize(
    ("command", "function", "action"),
    [("export", "export_tenant", "write"), ("import", "import_tenant", "read")],
)
def test_a_file_that_fails_is_named_in_one_line(
    monkeypatch, tmp_path, invoke, command, function, action
):
    from pilar.tenancy.fleet import archive

    def broken(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(archive, function, broken)
    path = tmp_path / "studio.tar"
    path.write_bytes(b"")
    args = ("studio.example.com", str(path)) if command == "export" else (str(path),)
    result = invoke(command, *args)
    assert result.exit_code == 1
    assert result.output == (
        f"Error: Cannot {action} {str(path)!r}: No space left on device.\n"
    )
