"""Every `flask tenants` and `flask nodes` command as a newcomer runs it.

Each runs in a subprocess with a bare environment: no PILAR_SECRET_KEY, no
FLASK_DEBUG, only the database. A command that signs nothing needs no key;
a setting that is wrong or a database out of reach is one line on stderr and
exit status 2, never a traceback.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import unique_domain
from tests.database import server_url
from tests.database import throwaway_database

ROOT = Path(__file__).resolve().parents[2]
FLASK = str(Path(sys.executable).with_name("flask"))


def _flask(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    bare = {"PATH": os.environ["PATH"], "LC_ALL": "C.UTF-8", **env}
    return subprocess.run(
        [FLASK, "--app", "wsgi", *args],
        cwd=ROOT,
        env=bare,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def bare_database() -> Iterator[str]:
    """A fresh database, its public schema migrated by `flask db upgrade`."""
    with server_url() as server, throwaway_database(server) as url:
        done = _flask("db", "upgrade", DATABASE_URL=url)
        assert done.returncode == 0, done.stderr
        yield url


def test_every_command_runs_without_a_secret_key(bare_database, tmp_path):
    env = {"DATABASE_URL": bare_database, "PILAR_INSTANCE_PATH": str(tmp_path)}
    domain = unique_domain("newcomer")
    steps = [
        ("tenants", "create", "Newcomer", domain),
        (
            "tenants",
            "create",
            "Owned",
            unique_domain("owned"),
            "--owner-email",
            "owner@owned.example.com",
            "--owner-password",
            "long-enough-1",
        ),
        ("tenants", "list"),
        ("tenants", "migrate"),
        ("tenants", "doctor"),
        ("tenants", "revision", "--help"),
        ("nodes", "list"),
        ("tenants", "drop", domain, "--yes"),
    ]
    for step in steps:
        done = _flask(*step, **env)
        assert done.returncode == 0, (step, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr, step
    listed = _flask("tenants", "list", **env).stdout
    assert "newcomer" not in listed
    assert "owned" in listed


@pytest.mark.parametrize(
    "command",
    [
        ("tenants", "list"),
        ("tenants", "create", "X", "x.example.com"),
        ("tenants", "migrate"),
        ("tenants", "doctor"),
        ("tenants", "drop", "x.example.com", "--yes"),
        ("nodes", "list"),
    ],
)
def test_a_database_out_of_reach_is_one_line_and_status_2(command, tmp_path):
    done = _flask(
        *command,
        DATABASE_URL="postgresql://postgres@127.0.0.1:1/nowhere",
        PILAR_INSTANCE_PATH=str(tmp_path),
    )
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("Error: "), lines


def test_a_malformed_setting_is_one_line_and_status_2(bare_database, tmp_path):
    done = _flask(
        "tenants",
        "list",
        DATABASE_URL=bare_database,
        PILAR_INSTANCE_PATH=str(tmp_path),
        PILAR_NODES="Bad=postgresql://user:secret@db/x",
    )
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stderr.strip().splitlines() == [done.stderr.strip()], done.stderr
    assert "not a node name" in done.stderr
    assert "secret" not in done.stderr
