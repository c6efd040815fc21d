"""What every benchmark needs: a throwaway database, the app, the machine's figures."""

from __future__ import annotations

import os
import platform
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from flask import Flask
from flask_migrate import upgrade

import tests.database
from pilar import create_app

ROOT = Path(__file__).resolve().parent.parent
# Signs nothing that outlives the run.
SECRET_KEY = secrets.token_urlsafe(32)


def server_url() -> str:
    """Return the libpq URL of the server to benchmark (``DATABASE_URL``)."""
    url = os.environ.get(
        "DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    return url.replace("postgresql+psycopg://", "postgresql://")


@contextmanager
def throwaway_database() -> Iterator[str]:
    """Create a database for one benchmark run; drop it at the end."""
    with tests.database.throwaway_database(server_url(), "pilar_bench") as url:
        yield url


def make_app(url: str, location: Path, **config: Any) -> Flask:
    """Create the app on ``url`` with the public schema migrated.

    ``config`` adds settings, such as ``NODES``.
    """
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": SECRET_KEY,
            "TENANT_MIGRATIONS_DIR": str(location),
            **config,
        }
    )
    with app.app_context():
        upgrade(directory=app.config["MIGRATIONS_DIR"])
    return app


@contextmanager
def scratch_folder() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="pilar_bench_"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def cli(url: str, location: Path, *args: str) -> tuple[float, str]:
    """Run ``flask --app wsgi …`` in a new process; return its wall time, output."""
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "PILAR_SECRET_KEY": SECRET_KEY,
        "PILAR_TENANT_MIGRATIONS_DIR": str(location),
    }
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(
            f"flask {' '.join(args)} failed:\n{done.stdout}{done.stderr}"
        )
    return elapsed, done.stdout


def print_machine(url: str) -> None:
    """Print what the figures were measured on."""
    with psycopg.connect(url) as conn:
        version = conn.execute("SHOW server_version").fetchone()
        settings = conn.execute(
            "SELECT name, setting, unit FROM pg_settings WHERE name = ANY(%s) "
            "ORDER BY name",
            [
                [
                    "fsync",
                    "max_locks_per_transaction",
                    "shared_buffers",
                    "synchronous_commit",
                    "wal_level",
                ]
            ],
        ).fetchall()
    print(
        f"machine: {os.cpu_count()} CPUs, {platform.machine()}, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    )
    print(f"PostgreSQL {version[0] if version else '?'} on {url.split('@')[-1]}")
    print(
        "settings: "
        + ", ".join(f"{name}={value}{unit or ''}" for name, value, unit in settings)
    )


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def summary(samples: list[float]) -> str:
    """Median, p95 and total of per-item times in seconds, shown in ms and s."""
    return (
        f"median {statistics.median(samples) * 1000:7.2f} ms  "
        f"p95 {percentile(samples, 0.95) * 1000:7.2f} ms  "
        f"total {sum(samples):7.2f} s"
    )
