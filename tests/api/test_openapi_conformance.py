"""The running service against its OpenAPI document, checked by schemathesis.

gunicorn serves the app on a database of its own; schemathesis sends what the
document describes (and what it forbids) with every check it has, as an
OWNER and as a STAFF user of a tenant, and as the platform admin. Its
settings, and why each is there, are in schemathesis.toml.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import unique_domain
from tests.database import server_url
from tests.database import throwaway_database
from tests.nodes import free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PLATFORM_HOST = "localhost"
# The platform API, which tenant hosts answer with 404 whatever is sent, and
# /healthz, which every host answers alike; the platform run takes them.
PLATFORM_PATHS = r"^/(api/v1/(tenants|nodes)(/|$)|healthz$)"
PASSWORD = "conformance-password"


@dataclass
class Service:
    url: str
    admin_token: str

    def call(
        self,
        method: str,
        path: str,
        host: str,
        body: dict[str, Any] | None = None,
        token: str | None = None,
    ) -> Any:
        headers = {"Host": host, "Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(  # noqa: S310  # our own http:// URL
            self.url + path,
            method=method,
            headers=headers,
            data=None if body is None else json.dumps(body).encode(),
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return json.load(response)

    def sign_in(self, host: str, email: str) -> tuple[str, str]:
        """Return a bearer token of ``email``'s user on ``host``, and its id."""
        token = self.call(
            "POST",
            "/api/v1/auth/token",
            host,
            {"email": email, "password": PASSWORD},
        )["access_token"]
        return token, self.call("GET", "/api/v1/me", host, token=token)["id"]


def _wait_until_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, "gunicorn exited"
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=5):  # noqa: S310
                return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    raise AssertionError("gunicorn did not answer /healthz within a minute")


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    folder = tmp_path_factory.mktemp("conformance")
    admin_token = secrets.token_urlsafe(32)
    with server_url() as server, throwaway_database(server) as database:
        env = {
            "PATH": os.environ["PATH"],
            "LC_ALL": "C.UTF-8",
            "DATABASE_URL": database,
            "PILAR_ADMIN_TOKEN": admin_token,
            "PILAR_SECRET_KEY": secrets.token_urlsafe(32),
            "PILAR_PLATFORM_HOSTS": PLATFORM_HOST,
            "PILAR_INSTANCE_PATH": str(folder),
        }
        migrated = subprocess.run(
            [BIN / "flask", "--app", "wsgi", "db", "upgrade"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert migrated.returncode == 0, migrated.stderr
        port = free_port()
        with (folder / "gunicorn.log").open("wb") as log:
            # gunicorn answers a request line over 4094 bytes itself, with a
            # page of HTML, before the app sees it. The document describes
            # the app, so the long query strings of a run (a value past its
            # maxLength, say) must reach it: no limit here.
            process = subprocess.Popen(
                [
                    BIN / "gunicorn",
                    "--bind",
                    f"127.0.0.1:{port}",
                    "--workers",
                    "2",
                    "--threads",
                    "4",
                    "--limit-request-line",
                    "0",
                    "wsgi:app",
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                url = f"http://127.0.0.1:{port}"
                _wait_until_healthy(url, process)
                yield Service(url, admin_token)
            finally:
                process.terminate()
                process.wait(timeout=30)


def _schemathesis(
    service: Service, token: str, *args: str, user_id: str = ""
) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ["PATH"],
        "LC_ALL": "C.UTF-8",
        "HOME": os.environ.get("HOME", str(ROOT)),
        "PILAR_CONFORMANCE_TOKEN": token,
        "PILAR_CONFORMANCE_USER_ID": user_id,
    }
    return subprocess.run(
        [
            BIN / "st",
            "run",
            f"{service.url}/api/openapi.json",
            "--checks",
            "all",
            "--no-color",
            *args,
        ],
        cwd=ROOT,  # where schemathesis.toml is
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _tenant(service: Service) -> str:
    """Create a tenant with an OWNER (signed in with PASSWORD); return its domain."""
    domain = unique_domain("conformance")
    service.call(
        "POST",
        "/api/v1/tenants",
        PLATFORM_HOST,
        {
            "name": "Conformance",
            "domain": domain,
            "owner": {"email": f"owner@{domain}", "password": PASSWORD},
        },
        token=service.admin_token,
    )
    return domain


@pytest.mark.parametrize("role", ["OWNER", "STAFF"])
def test_the_tenant_api_does_what_its_document_says(service, role):
    domain = _tenant(service)
    token, user_id = service.sign_in(domain, f"owner@{domain}")
    narrower: tuple[str, ...] = ()
    if role == "STAFF":
        email = f"staff@{domain}"
        user = {"email": email, "password": PASSWORD, "role": role}
        service.call("POST", "/api/v1/users", domain, user, token=token)
        token, user_id = service.sign_in(domain, email)
        # A STAFF user's writes mostly get 403 before their body is read, and
        # the OWNER run has walked every boundary of the same document.
        narrower = ("--phases", "examples,fuzzing,stateful", "--max-examples", "10")
    done = _schemathesis(
        service,
        token,
        "--header",
        f"Host: {domain}",
        "--exclude-path-regex",
        PLATFORM_PATHS,
        *narrower,
        user_id=user_id,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_platform_api_does_what_its_document_says(service):
    # A tenant to read, change and delete from the first request on; the
    # tenant runs each make their own before they start.
    _tenant(service)
    done = _schemathesis(
        service,
        service.admin_token,
        "--header",
        f"Host: {PLATFORM_HOST}",
        "--include-path-regex",
        PLATFORM_PATHS,
    )
    assert done.returncode == 0, done.stdout + done.stderr
