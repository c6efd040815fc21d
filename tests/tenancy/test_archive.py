"""Exporting a tenant to an archive and importing it again, on one node or another."""

from __future__ import annotations

import io
import json
import tarfile
import threading
import uuid

import pytest
import sqlalchemy as sa

from pilar.db.extensions import db
from pilar.errors import ArchiveError
from pilar.errors import ConflictError
from pilar.models import TenantIntegration
from pilar.models import WorkoutPlan
from pilar.security import sealed
from pilar.services.integrations import SECRET_KEYS
from pilar.tenancy import get_nodes
from pilar.tenancy import tenant_scope
from pilar.tenancy.fleet import migrations
from pilar.tenancy.fleet import provisioning
from pilar.tenancy.fleet.archive import export_tenant
from pilar.tenancy.fleet.archive import import_tenant
from tests.archives import API_KEY
from tests.archives import fill_tenant
from tests.archives import rows_of
from tests.archives import tenant_count
from tests.archives import without_placement
from tests.conftest import unique_domain
from tests.fleet import schemas_on
from tests.revisions import copy_with_revisions

OLDER_REVISION = "8c3e51a0d7f2"


@pytest.fixture
def archive(tmp_path):
    return tmp_path / "tenant.tar.gz"


def export(app, tenant, path):
    with app.app_context():
        return export_tenant(tenant.domain, path)


def drop(app, tenant):
    with app.app_context():
        provisioning.drop_tenant(tenant.id)


def restore(app, path, **options):
    with app.app_context():
        return import_tenant(path, **options)


@pytest.mark.parametrize(
    ("source", "target"),
    [("default", "default"), ("eu2", "eu2"), ("eu2", "eu3"), ("eu3", "default")],
    ids=["on default", "on the same node", "onto another node", "back to default"],
)
def test_export_then_drop_then_import_restores_every_row(
    nodes_app, make_node_tenant, new_number, archive, source, target
):
    tenant = make_node_tenant(node=source)
    fill_tenant(nodes_app, tenant, new_number)
    before = rows_of(nodes_app, tenant.id)
    exported = export(nodes_app, tenant, archive)
    drop(nodes_app, tenant)
    imported = restore(nodes_app, archive, node=target)
    after = rows_of(nodes_app, tenant.id)
    assert after["tenants"]["node"] == target
    assert without_placement(after) == without_placement(before)
    assert after["tenants"]["domain"] == tenant.domain
    assert after["tenants"]["schema_name"] == tenant.schema_name
    # Every table of the schema was in the archive and has rows.
    assert all(after[key] for key in after if key.startswith("schema."))
    assert exported.rows == imported.rows


def test_an_archive_is_readable_by_its_owner_only(nodes_app, make_node_tenant, archive):
    tenant = make_node_tenant()
    export(nodes_app, tenant, archive)
    assert archive.stat().st_mode & 0o777 == 0o600
    # Nothing of the spooling is left beside it.
    assert list(archive.parent.iterdir()) == [archive]


def test_an_import_under_another_domain_and_schema_is_served_there(
    nodes_app, make_node_tenant, new_number, archive
):
    tenant = make_node_tenant(node="eu2")
    fill_tenant(nodes_app, tenant, new_number)
    before = rows_of(nodes_app, tenant.id)
    export(nodes_app, tenant, archive)
    drop(nodes_app, tenant)
    domain = unique_domain("renamed")
    schema_name = "renamed_" + domain.split(".")[0]
    imported = restore(nodes_app, archive, domain=domain, schema_name=schema_name)
    assert (imported.domain, imported.schema_name, imported.node) == (
        domain,
        schema_name,
        "default",
    )
    after = rows_of(nodes_app, tenant.id)
    assert without_placement(after) == without_placement(before)
    with nodes_app.app_context(), tenant_scope(domain):
        assert len(db.session.scalars(sa.select(WorkoutPlan)).all()) == 2
        integration = db.session.scalar(sa.select(TenantIntegration))
        assert integration is not None
        config = sealed.decrypt_secrets(
            integration.config, SECRET_KEYS[integration.type]
        )
    assert config["api_key"] == API_KEY


def test_an_import_lists_every_conflict_and_creates_nothing(
    nodes_app, make_node_tenant, new_number, archive
):
    tenant = make_node_tenant(node="eu2")
    numbers = fill_tenant(nodes_app, tenant, new_number)
    export(nodes_app, tenant, archive)
    tenants, schemas = tenant_count(nodes_app), schemas_on(nodes_app, "eu2")
    with pytest.raises(ConflictError) as raised:
        restore(nodes_app, archive, node="eu2")
    conflicts = raised.value.errors or {}
    assert set(conflicts) == {"domain", "schema_name", "id", "numbers"}
    assert len(conflicts["numbers"]) == 3
    assert all(
        any(number in message for message in conflicts["numbers"])
        for number in numbers.values()
    )
    assert "6 conflicts" in raised.value.message
    assert tenant_count(nodes_app) == tenants
    assert schemas_on(nodes_app, "eu2") == schemas


def test_an_import_refuses_a_schema_name_that_exists_on_the_target_node(
    nodes_app, make_node_tenant, archive
):
    tenant = make_node_tenant(node="eu2")
    export(nodes_app, tenant, archive)
    drop(nodes_app, tenant)
    with nodes_app.app_context(), get_nodes().engine("eu3").begin() as conn:
        conn.execute(sa.schema.CreateSchema(tenant.schema_name))
    try:
        with pytest.raises(ConflictError) as raised:
            restore(nodes_app, archive, node="eu3")
        conflicts = raised.value.errors or {}
        assert list(conflicts) == ["schema_name"]
        assert "exists on node 'eu3'" in conflicts["schema_name"][0]
        restore(nodes_app, archive, node="eu2")
    finally:
        with nodes_app.app_context(), get_nodes().engine("eu3").begin() as conn:
            conn.execute(sa.schema.DropSchema(tenant.schema_name))


def test_an_archive_of_a_newer_revision_is_refused(
    nodes_app, database_url, tmp_path, archive
):
    from tests.conftest import dispose_app
    from tests.conftest import make_app

    newer = copy_with_revisions(
        tmp_path / "newer",
        ['op.add_column("workout_plans", sa.Column("note", sa.Text()))'],
    )
    newer_app = make_app(database_url, TENANT_MIGRATIONS_DIR=str(newer))
    try:
        with newer_app.app_context():
            tenant = provisioning.create_tenant("Newer", unique_domain())
            export_tenant(tenant.domain, archive)
            provisioning.drop_tenant(tenant.id)
    finally:
        dispose_app(newer_app)
    tenants = tenant_count(nodes_app)
    with pytest.raises(ArchiveError, match="made by newer code"):
        restore(nodes_app, archive)
    assert tenant_count(nodes_app) == tenants


def test_an_archive_of_an_older_revision_is_upgraded_on_import(
    nodes_app, make_node_tenant, new_number, archive
):
    tenant = make_node_tenant(node="default")
    fill_tenant(nodes_app, tenant, new_number)
    # On default, where the downgrade records its revision in public.tenants.
    with nodes_app.app_context(), db.engine.begin() as conn:
        conn.execute(sa.delete(sa.table("inbound_events", schema=tenant.schema_name)))
        migrations.downgrade_schema(
            conn,
            tenant.schema_name,
            nodes_app.config["TENANT_MIGRATIONS_DIR"],
            OLDER_REVISION,
        )
    before = rows_of(nodes_app, tenant.id)
    assert "schema.inbound_events" not in before
    exported = export(nodes_app, tenant, archive)
    assert exported.revision == OLDER_REVISION
    drop(nodes_app, tenant)
    imported = restore(nodes_app, archive, node="eu3")
    assert imported.revision == tenant.schema_revision
    after = rows_of(nodes_app, tenant.id)
    assert after["tenants"]["schema_revision"] == tenant.schema_revision
    assert after.pop("schema.inbound_events") == []
    assert after.pop("schema.alembic_version") == [f"({tenant.schema_revision})"]
    assert before.pop("schema.alembic_version") == [f"({OLDER_REVISION})"]
    before["tenants"]["schema_revision"] = tenant.schema_revision
    assert without_placement(after) == without_placement(before)


def rewrite(archive, change):
    """Rewrite the (uncompressed) archive, passing each member through ``change``."""
    members = []
    with tarfile.open(archive) as tar:
        for info in tar.getmembers():
            source = tar.extractfile(info)
            assert source is not None
            data = source.read()
            members.append((info.name, change(info.name, data)))
    with tarfile.open(archive, "w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_an_archive_whose_rows_do_not_match_their_checksum_is_refused(
    nodes_app, make_node_tenant, new_number, tmp_path
):
    archive = tmp_path / "tenant.tar"
    tenant = make_node_tenant(node="eu2")
    fill_tenant(nodes_app, tenant, new_number)
    export(nodes_app, tenant, archive)
    drop(nodes_app, tenant)
    rewrite(
        archive,
        lambda name, data: (
            data.replace(b"front-desk", b"front-dusk")
            if name == "schema/phone_numbers.copy"
            else data
        ),
    )
    tenants, schemas = tenant_count(nodes_app), schemas_on(nodes_app, "eu3")
    with pytest.raises(ArchiveError) as raised:
        restore(nodes_app, archive, node="eu3")
    assert str(raised.value) == (
        "The archive is damaged: schema/phone_numbers.copy does not match its checksum."
    )
    assert tenant_count(nodes_app) == tenants
    assert schemas_on(nodes_app, "eu3") == schemas


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        (b"{not json", "The archive's manifest is not JSON."),
        (b'{"format": "zip"}', "The archive is not a PILAR tenant archive."),
        (
            b'{"format": "pilar-tenant-archive", "version": 2}',
            "The archive is of format version 2; this code reads version 1.",
        ),
    ],
    ids=["not JSON", "another format", "a newer version"],
)
def test_an_archive_with_a_bad_manifest_is_refused(
    nodes_app, make_node_tenant, tmp_path, manifest, message
):
    archive = tmp_path / "tenant.tar"
    tenant = make_node_tenant()
    export(nodes_app, tenant, archive)
    rewrite(archive, lambda name, data: manifest if name == "manifest.json" else data)
    with pytest.raises(ArchiveError) as raised:
        restore(nodes_app, archive, domain=unique_domain(), schema_name="unused")
    assert str(raised.value) == message


def test_a_manifest_that_misstates_a_row_count_is_refused(
    nodes_app, make_node_tenant, new_number, tmp_path
):
    archive = tmp_path / "tenant.tar"
    tenant = make_node_tenant()
    fill_tenant(nodes_app, tenant, new_number)
    export(nodes_app, tenant, archive)
    drop(nodes_app, tenant)

    def miscount(name, data):
        if name != "manifest.json":
            return data
        manifest = json.loads(data)
        for member in manifest["members"]:
            if member["table"] == "workout_plans":
                member["rows"] = 3
        return json.dumps(manifest).encode()

    rewrite(archive, miscount)
    tenants = tenant_count(nodes_app)
    with pytest.raises(ArchiveError, match="holds 2 rows; its manifest says 3"):
        restore(nodes_app, archive)
    assert tenant_count(nodes_app) == tenants
    assert tenant.schema_name not in schemas_on(nodes_app, "default")


def test_a_file_that_is_no_archive_is_refused(nodes_app, tmp_path):
    path = tmp_path / "tenant.tar.gz"
    path.write_bytes(b"\x1f\x8bnot gzip at all")
    with pytest.raises(ArchiveError) as raised:
        restore(nodes_app, path)
    assert str(raised.value) == "The file is not a tar archive."


def test_an_export_reads_a_snapshot_without_waiting_for_writers(
    nodes_app, make_node_tenant, archive
):
    tenant = make_node_tenant(node="eu2")
    plans = sa.table(
        "workout_plans", sa.column("id"), sa.column("plan"), schema=tenant.schema_name
    )
    with nodes_app.app_context():
        writer = get_nodes().engine("eu2").connect()
    try:
        # A write in progress holds its locks while the export runs.
        writer.begin()
        writer.execute(
            sa.insert(plans).values(id=uuid.uuid4(), plan=sa.text("'{}'::jsonb"))
        )
        done = threading.Event()

        def run() -> None:
            export(nodes_app, tenant, archive)
            done.set()

        thread = threading.Thread(target=run)
        thread.start()
        thread.join(timeout=30)
        assert done.is_set()
        writer.commit()
    finally:
        writer.close()
    with tarfile.open(archive) as tar:
        source = tar.extractfile("manifest.json")
        assert source is not None
        manifest = json.load(source)
    rows = {m["table"]: m["rows"] for m in manifest["members"]}
    assert rows["workout_plans"] == 0
    assert rows["tenants"] == 1
