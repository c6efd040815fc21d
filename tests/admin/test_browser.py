"""The data browser in headless Chromium, through Playwright.

Set ``PILAR_SCREENSHOTS=docs/screenshots`` to write the screenshots that
docs/README.md and docs/api.md show.
"""

from __future__ import annotations

import datetime as dt
import gc
import os
import shutil
import socket
import struct
import threading
import warnings
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from pilar.models import Channel
from pilar.models import Conversation
from pilar.models import WorkoutPlan
from pilar.tenancy.fleet.provisioning import OwnerSpec
from tests.admin.conftest import add_rows
from tests.conftest import ADMIN_TOKEN
from tests.users import USER_PASSWORD

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse
    from _typeshed.wsgi import WSGIApplication
    from _typeshed.wsgi import WSGIEnvironment

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # Tenant hosts are *.example.com; all of them are this machine.
    "--host-resolver-rules=MAP *.example.com 127.0.0.1",
]
OWNER_EMAIL = "owner@berlin.example.com"

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright for Python is not installed"
)
if shutil.which(CHROMIUM) is None:
    pytest.skip(f"Chromium is not installed at {CHROMIUM}", allow_module_level=True)


def buffered(app: WSGIApplication) -> WSGIApplication:
    """Read each response whole, and close it, before the server writes it.

    When a client hangs up, werkzeug's development server can raise while it
    drains the socket, before it closes the response. Chromium hangs up on
    requests it no longer needs, so a static file Flask-Admin was sending
    stayed open and surfaced as a ResourceWarning in a later test.
    """

    def serve(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        response = app(environ, start_response)
        try:
            return [b"".join(response)]
        finally:
            close = getattr(response, "close", None)
            if close is not None:
                close()

    return serve


@contextmanager
def serving(app: WSGIApplication) -> Iterator[int]:
    """Serve ``app`` on 127.0.0.1 in a thread; yield its port."""
    http = make_server("127.0.0.1", 0, buffered(app), threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    try:
        yield http.server_port
    finally:
        http.shutdown()
        thread.join()
        http.server_close()


@pytest.fixture
def server(app: Flask) -> Iterator[int]:
    with serving(app) as port:
        yield port


def test_a_client_hanging_up_leaves_no_file_open(tmp_path: Path) -> None:
    (tmp_path / "filters.js").write_text("console.log(1)")
    static = Flask(__name__, static_folder=tmp_path, static_url_path="/static")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        with serving(static) as port:
            for _ in range(20):
                with socket.create_connection(("127.0.0.1", port)) as client:
                    client.sendall(b"GET /static/filters.js HTTP/1.0\r\n\r\n")
                    assert client.recv(12) == b"HTTP/1.1 200"
                    # Reset rather than close, as a browser cancelling a
                    # request does: the server sees it while draining.
                    client.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
        gc.collect()

    assert [str(w.message) for w in caught] == []


@pytest.fixture
def page() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        yield context.new_page()
        context.close()
        browser.close()


class Screenshots:
    def __init__(self, page: Any) -> None:
        self.page = page
        folder = os.environ.get("PILAR_SCREENSHOTS")
        self.folder = Path(folder) if folder else None

    def take(self, name: str) -> None:
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(self.folder / f"{name}.png"), full_page=True)


@pytest.fixture
def studios(app: Flask, make_tenant: Callable[..., Any]) -> tuple[Any, Any]:
    berlin = make_tenant(
        "berlin.example.com",
        name="Berlin Studio",
        owner=OwnerSpec(OWNER_EMAIL, USER_PASSWORD),
    )
    hamburg = make_tenant("hamburg.example.com", name="Hamburg Studio")
    at = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)
    add_rows(
        app,
        berlin,
        Conversation(
            channel=Channel.WHATSAPP,
            transcript=[
                {
                    "role": "member",
                    "text": "Hi! Is there a spin class tonight?",
                    "at": at.isoformat(),
                },
                {
                    "role": "assistant",
                    "text": "Yes, at 19:00 with Lena. Shall I book you a bike?",
                    "at": (at + dt.timedelta(seconds=20)).isoformat(),
                },
                {
                    "role": "member",
                    "text": "Please do, thanks!",
                    "at": (at + dt.timedelta(minutes=1)).isoformat(),
                },
            ],
            metadata_={"member_id": "M-1042", "language": "en"},
        ),
        Conversation(
            channel=Channel.VOICE,
            transcript=[{"role": "member", "text": "I'd like to pause my membership."}],
            metadata_={"call_id": "c-77"},
        ),
        Conversation(
            channel=Channel.EMAIL,
            transcript=[{"role": "member", "text": "Invoice for February, please."}],
        ),
        WorkoutPlan(user_id="M-1042", plan={"goal": "strength", "days": 3}),
    )
    return berlin, hamburg


def test_platform_admin_browses_filters_and_edits(
    app: Flask, server: int, page: Any, studios: tuple[Any, Any]
) -> None:
    berlin, hamburg = studios
    (foreign_plan,) = add_rows(app, hamburg, WorkoutPlan(plan={"days": 1}))
    shots = Screenshots(page)
    base = f"http://127.0.0.1:{server}"
    expect = sync_api.expect

    page.goto(f"{base}/admin/")
    expect(page.locator("#sign-in")).to_be_visible()
    shots.take("sign-in")
    page.fill("input[name=token]", ADMIN_TOKEN)
    page.click("#sign-in button[type=submit]")
    expect(page).to_have_url(f"{base}/admin/tenants/")

    page.fill("input[name=search]", "example.com")
    page.keyboard.press("Enter")
    expect(page.get_by_role("link", name="Berlin Studio")).to_be_visible()
    shots.take("tenants")

    page.get_by_role("link", name="Berlin Studio").click()
    expect(page.locator("#tenant-tables")).to_contain_text("Conversations")
    shots.take("tenant")

    page.locator("#tenant-tables").get_by_role("link", name="Conversations").click()
    expect(page.locator("table.model-list tbody tr")).to_have_count(3)
    # The filter menu is Bootstrap's: a click before its script ran opens nothing.
    page.wait_for_load_state("load")
    page.get_by_role("link", name="Add Filter").click()
    page.locator("a.filter", has_text="Channel").first.click()
    # Select2 hides the <select> it decorates; the form posts the select.
    page.locator("select.filter-val").first.select_option("WHATSAPP", force=True)
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("table.model-list tbody tr")).to_have_count(1)
    expect(page.locator("table.model-list")).to_contain_text("spin class")
    shots.take("conversations")

    # The filtered list's scripts run at load; a click before then can be lost
    # on a busy machine.
    page.wait_for_load_state("load")
    page.locator("table.model-list tbody tr a[title='View Record']").first.click()
    expect(page.locator("#transcript")).to_contain_text("Shall I book you a bike?")
    shots.take("conversation")

    page.goto(f"{base}/admin/t/{berlin.id}/workout-plans/")
    page.locator("table.model-list tbody tr a[title='Edit Record']").first.click()
    page.fill("textarea[name=plan]", '{"goal": "strength", "days": 4}')
    shots.take("workout-plan-edit")
    page.locator("input[type=submit][value=Save]").click()
    expect(page.locator(".alert-success")).to_contain_text("successfully saved")
    expect(page.locator("table.model-list")).to_contain_text("days, goal")

    refused = page.goto(
        f"{base}/admin/t/{berlin.id}/workout-plans/edit/?id={foreign_plan}"
    )
    assert refused is not None
    assert refused.status == 404

    page.goto(f"{base}/admin/tenants/")
    page.click("#sign-out")
    expect(page.locator("#sign-in")).to_be_visible()
    page.goto(f"{base}/admin/tenants/")
    expect(page).to_have_url(f"{base}/admin/login")


def test_tenant_owner_stays_inside_their_studio(
    app: Flask, server: int, page: Any, studios: tuple[Any, Any]
) -> None:
    berlin, hamburg = studios
    (foreign_plan,) = add_rows(app, hamburg, WorkoutPlan(plan={"days": 1}))
    base = f"http://{berlin.domain}:{server}"
    expect = sync_api.expect

    page.goto(f"{base}/admin/")
    page.fill("input[name=email]", OWNER_EMAIL)
    page.fill("input[name=password]", USER_PASSWORD)
    page.click("#sign-in button[type=submit]")
    expect(page.locator("#browsed-tenant")).to_have_text(berlin.domain)

    page.goto(f"{base}/admin/t/{berlin.id}/workout-plans/")
    page.locator("table.model-list tbody tr a[title='Edit Record']").first.click()
    page.fill("input[name=user_id]", "M-2001")
    page.locator("input[type=submit][value=Save]").click()
    expect(page.locator("table.model-list")).to_contain_text("M-2001")

    for path in (
        f"/admin/t/{hamburg.id}/workout-plans/",
        f"/admin/t/{berlin.id}/workout-plans/details/?id={foreign_plan}",
    ):
        response = page.goto(base + path)
        assert response is not None
        assert response.status == 404, path

    page.goto(f"{base}/admin/t/{berlin.id}/")
    page.click("#sign-out")
    expect(page.locator("#sign-in")).to_be_visible()


def test_the_api_docs_render_from_the_apps_own_files(page, server):
    # Without internet access a CDN-hosted Swagger UI stays blank; the page
    # must load the app's own files.
    page.goto(f"http://localhost:{server}/api/docs")
    page.wait_for_selector(".swagger-ui .info .title")
    assert "PILAR" in page.inner_text(".swagger-ui .info .title")
    assert page.locator(".opblock").count() > 30
