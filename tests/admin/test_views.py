from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from pilar.db.extensions import db
from pilar.models import Channel
from pilar.models import Conversation
from pilar.models import PhoneNumber
from pilar.models import Role
from pilar.models import TenantIntegration
from pilar.models import WorkoutPlan
from pilar.tenancy import tenant_scope
from tests.admin.conftest import Browser
from tests.admin.conftest import add_rows
from tests.users import make_user

SIP_PASSWORD = "sip-secret-value-42"
API_KEY = "magicline-key-value-42"
# Every table a tenant's page lists, by its URL's last part.
LISTS = [
    "users/",
    "integrations/",
    "phone-numbers/",
    "whatsapp-channels/",
    "conversations/",
    "workout-plans/",
]


def _plan_url(tenant: Any, path: str = "") -> str:
    return f"/admin/t/{tenant.id}/workout-plans/{path}"


def test_every_table_lists_for_the_platform_admin(
    platform_browser: Browser, tenant: Any
) -> None:
    for slug in ("", *LISTS):
        response = platform_browser.get(f"/admin/t/{tenant.id}/{slug}")
        assert response.status_code == 200, slug
        assert tenant.domain in response.get_data(as_text=True)


def test_conversations_filter_by_channel_and_search_the_transcript(
    app: Flask, platform_browser: Browser, tenant: Any
) -> None:
    word = f"kettlebell{uuid.uuid4().hex[:6]}"
    voice, email = add_rows(
        app,
        tenant,
        Conversation(
            channel=Channel.VOICE, transcript=[{"role": "member", "text": word}]
        ),
        Conversation(
            channel=Channel.EMAIL, transcript=[{"role": "member", "text": word}]
        ),
    )
    base = f"/admin/t/{tenant.id}/conversations/"
    found = platform_browser.get(f"{base}?search={word}").get_data(as_text=True)
    assert str(voice) in found
    assert str(email) in found
    # flt0_0: the first filter (channel), "equals".
    filtered = platform_browser.get(f"{base}?search={word}&flt0_0=EMAIL")
    assert filtered.status_code == 200
    html = filtered.get_data(as_text=True)
    assert str(email) in html
    assert str(voice) not in html


def test_conversation_details_show_the_transcript_as_a_chat(
    app: Flask, owner_browser: Browser, tenant: Any
) -> None:
    (conversation_id,) = add_rows(
        app,
        tenant,
        Conversation(
            channel=Channel.WHATSAPP,
            transcript=[
                {"role": "member", "text": "Is the <b>pool</b> open?"},
                {"role": "assistant", "text": "Until 22:00."},
            ],
            metadata_={"source": "test"},
        ),
    )
    response = owner_browser.get(
        f"/admin/t/{tenant.id}/conversations/details/?id={conversation_id}"
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'id="transcript"' in html
    assert "Is the &lt;b&gt;pool&lt;/b&gt; open?" in html
    assert "Until 22:00." in html
    assert "&#34;source&#34;: &#34;test&#34;" in html or '"source": "test"' in html


def test_workout_plan_edit_goes_through_the_service(
    app: Flask, owner_browser: Browser, tenant: Any
) -> None:
    (plan_id,) = add_rows(app, tenant, WorkoutPlan(user_id="m-1", plan={"days": 2}))
    response = owner_browser.submit(
        _plan_url(tenant, f"edit/?id={plan_id}"),
        {"user_id": "m-2", "plan": json.dumps({"days": 3})},
    )
    assert response.status_code == 302
    with app.app_context(), tenant_scope(tenant.domain):
        plan = db.session.get(WorkoutPlan, plan_id)
        assert plan is not None
        assert (plan.user_id, plan.plan) == ("m-2", {"days": 3})


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        ("{not json", "Not valid JSON"),
        ("[1, 2]", "Not a valid"),
        ("", "Field may not be null."),
    ],
)
def test_invalid_workout_plan_gets_a_form_error(
    owner_browser: Browser, tenant: Any, plan: str, message: str
) -> None:
    response = owner_browser.submit(_plan_url(tenant, "new/"), {"plan": plan})
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)


def test_writes_without_a_csrf_token_are_refused(
    app: Flask, owner_browser: Browser, tenant: Any
) -> None:
    (plan_id,) = add_rows(app, tenant, WorkoutPlan(plan={"days": 1}))
    created = owner_browser.post(_plan_url(tenant, "new/"), data={"plan": "{}"})
    edited = owner_browser.post(
        _plan_url(tenant, f"edit/?id={plan_id}"), data={"plan": '{"days": 9}'}
    )
    deleted = owner_browser.post(_plan_url(tenant, "delete/"), data={"id": plan_id})
    assert [created.status_code, edited.status_code, deleted.status_code] == [
        400,
        400,
        400,
    ]
    with app.app_context(), tenant_scope(tenant.domain):
        plan = db.session.get(WorkoutPlan, plan_id)
        assert plan is not None
        assert plan.plan == {"days": 1}


def test_delete_with_token_removes_the_row(
    app: Flask, owner_browser: Browser, tenant: Any
) -> None:
    (plan_id,) = add_rows(app, tenant, WorkoutPlan(plan={"days": 1}))
    response = owner_browser.submit(
        _plan_url(tenant), {"id": str(plan_id)}, action=_plan_url(tenant, "delete/")
    )
    assert response.status_code == 302
    with app.app_context(), tenant_scope(tenant.domain):
        assert db.session.get(WorkoutPlan, plan_id) is None


@pytest.mark.parametrize(
    "path",
    ["workout-plans/new/", "workout-plans/edit/?id={id}", "users/", "integrations/"],
)
def test_staff_may_only_read(
    app: Flask, staff_browser: Browser, tenant: Any, path: str
) -> None:
    (plan_id,) = add_rows(app, tenant, WorkoutPlan(plan={"days": 1}))
    assert staff_browser.get(_plan_url(tenant)).status_code == 200
    response = staff_browser.get(f"/admin/t/{tenant.id}/" + path.format(id=plan_id))
    assert response.status_code == 403


def test_staff_cannot_post_an_edit(
    app: Flask, staff_browser: Browser, tenant: Any
) -> None:
    (plan_id,) = add_rows(app, tenant, WorkoutPlan(plan={"days": 1}))
    page = staff_browser.get(_plan_url(tenant)).get_data(as_text=True)
    assert "/edit/" not in page
    response = staff_browser.post(
        _plan_url(tenant, f"edit/?id={plan_id}"), data={"plan": '{"days": 5}'}
    )
    assert response.status_code == 403


def test_another_tenants_ids_are_not_found(
    app: Flask, owner_browser: Browser, tenant: Any, other_tenant: Any
) -> None:
    (foreign_plan,) = add_rows(app, other_tenant, WorkoutPlan(plan={"days": 1}))
    foreign_user = make_user(app, other_tenant, Role.OWNER)
    paths = [
        f"/admin/t/{other_tenant.id}/workout-plans/",
        f"/admin/t/{other_tenant.id}/",
        _plan_url(tenant, f"details/?id={foreign_plan}"),
        _plan_url(tenant, f"edit/?id={foreign_plan}"),
        f"/admin/t/{tenant.id}/users/details/?id={foreign_user.id}",
        _plan_url(tenant, "details/?id=not-a-uuid"),
    ]
    for path in paths:
        assert owner_browser.get(path).status_code == 404, path


def test_platform_admin_cannot_reach_a_row_through_another_tenant(
    app: Flask, platform_browser: Browser, tenant: Any, other_tenant: Any
) -> None:
    (foreign_plan,) = add_rows(app, other_tenant, WorkoutPlan(plan={"days": 1}))
    wrong = platform_browser.get(_plan_url(tenant, f"details/?id={foreign_plan}"))
    right = platform_browser.get(_plan_url(other_tenant, f"details/?id={foreign_plan}"))
    assert (wrong.status_code, right.status_code) == (404, 200)
    unknown = platform_browser.get(f"/admin/t/{uuid.uuid4()}/workout-plans/")
    assert unknown.status_code == 404


def test_secrets_are_never_shown_or_prefilled(
    app: Flask,
    platform_browser: Browser,
    tenant: Any,
    new_number: Callable[[], str],
) -> None:
    number = new_number()
    base = f"/admin/t/{tenant.id}/phone-numbers/"
    credentials = {"username": "front-desk", "registrar": "sip.example.com"}
    created = platform_browser.submit(
        base + "new/",
        {
            "number": number,
            "sip_credentials": json.dumps(credentials),
            "sip_password": SIP_PASSWORD,
        },
    )
    assert created.status_code == 302
    with app.app_context(), tenant_scope(tenant.domain):
        phone = db.session.query(PhoneNumber).filter_by(number=number).one()
        assert phone.sip_credentials is not None
        stored_password = phone.sip_credentials["password"]
        assert stored_password != SIP_PASSWORD
        phone_id = phone.id
    edited = platform_browser.submit(
        base + f"edit/?id={phone_id}",
        {
            "number": number,
            "status": "ACTIVE",
            "sip_credentials": json.dumps(credentials),
        },
    )
    assert edited.status_code == 302
    for path in ("", f"details/?id={phone_id}", f"edit/?id={phone_id}"):
        html = platform_browser.get(base + path).get_data(as_text=True)
        assert SIP_PASSWORD not in html
        assert stored_password not in html
        assert "front-desk" in html or path == ""
    with app.app_context(), tenant_scope(tenant.domain):
        kept = db.session.get(PhoneNumber, phone_id)
        assert kept is not None
        assert kept.sip_credentials is not None
        assert "password" in kept.sip_credentials  # kept: blank means keep


def test_integration_secret_is_write_only(
    app: Flask, make_tenant: Callable[..., Any]
) -> None:
    studio = make_tenant()
    browser = Browser(app, "localhost")
    browser.sign_in_platform()
    base = f"/admin/t/{studio.id}/integrations/"
    created = browser.submit(
        base + "new/",
        {
            "type": "MAGICLINE",
            "active": "y",
            "config": json.dumps({"tenant": "acme-gym"}),
            "api_key": API_KEY,
        },
    )
    assert created.status_code == 302
    with app.app_context():
        integration = (
            db.session.query(TenantIntegration).filter_by(tenant_id=studio.id).one()
        )
        integration_id = integration.id
    for path in ("", f"details/?id={integration_id}", f"edit/?id={integration_id}"):
        html = browser.get(base + path).get_data(as_text=True)
        assert API_KEY not in html
    stray = browser.submit(
        base + f"edit/?id={integration_id}",
        {"config": json.dumps({"tenant": "acme-gym"}), "private_key": "x"},
    )
    assert stray.status_code == 422
    assert "has no such secret" in stray.get_data(as_text=True)


def test_phone_number_must_be_e164(platform_browser: Browser, tenant: Any) -> None:
    response = platform_browser.submit(
        f"/admin/t/{tenant.id}/phone-numbers/new/", {"number": "12345"}
    )
    assert response.status_code == 422
    assert "number" in response.get_data(as_text=True)


def test_admin_cannot_delete_an_owner(
    app: Flask, make_tenant: Callable[..., Any]
) -> None:
    studio = make_tenant()
    owner = make_user(app, studio, Role.OWNER)
    admin = make_user(app, studio, Role.ADMIN)
    browser = Browser(app, studio.domain)
    browser.sign_in(admin.email)
    base = f"/admin/t/{studio.id}/users/"
    response = browser.submit(base, {"id": str(owner.id)}, action=base + "delete/")
    assert response.status_code == 302
    html = browser.get(base).get_data(as_text=True)
    assert "may not delete an OWNER" in html
    assert owner.email in html


def test_a_number_held_by_another_tenant_is_refused(
    platform_browser: Browser,
    tenant: Any,
    other_tenant: Any,
    new_number: Callable[[], str],
) -> None:
    number = new_number()
    first = platform_browser.submit(
        f"/admin/t/{other_tenant.id}/phone-numbers/new/", {"number": number}
    )
    assert first.status_code == 302
    second = platform_browser.submit(
        f"/admin/t/{tenant.id}/phone-numbers/new/", {"number": number}
    )
    assert second.status_code == 422
    assert "is already in use." in second.get_data(as_text=True)


def test_whatsapp_channel_access_token_is_write_only(
    app: Flask,
    owner_browser: Browser,
    tenant: Any,
    new_number: Callable[[], str],
) -> None:
    token = f"wa-token-{uuid.uuid4().hex}"
    number = new_number()
    base = f"/admin/t/{tenant.id}/whatsapp-channels/"
    config = {
        "phone_number_id": str(uuid.uuid4().int)[:15],
        "business_account_id": "42",
    }
    created = owner_browser.submit(
        base + "new/",
        {
            "wa_number": number,
            "wa_cloud_api_config": json.dumps(config),
            "access_token": token,
        },
    )
    assert created.status_code == 302
    listing = owner_browser.get(f"{base}?search={number.lstrip('+')}")
    html = listing.get_data(as_text=True)
    assert number in html
    assert token not in html
    channel_id = re_search_id(html)
    for path in (f"details/?id={channel_id}", f"edit/?id={channel_id}"):
        page = owner_browser.get(base + path).get_data(as_text=True)
        assert token not in page
        assert config["business_account_id"] in page


def re_search_id(html: str) -> str:
    match = re.search(r"details/\?id=([0-9a-f-]{36})", html)
    assert match, "no row in the list"
    return match.group(1)


def test_admin_cannot_create_an_owner(
    app: Flask, make_tenant: Callable[..., Any]
) -> None:
    studio = make_tenant()
    admin = make_user(app, studio, Role.ADMIN)
    browser = Browser(app, studio.domain)
    browser.sign_in(admin.email)
    base = f"/admin/t/{studio.id}/users/"
    email = f"new-{uuid.uuid4().hex[:6]}@example.com"
    refused = browser.submit(
        base + "new/", {"email": email, "role": "OWNER", "password": "long-enough-1"}
    )
    assert refused.status_code == 422
    assert "may not create an OWNER" in refused.get_data(as_text=True)
    short = browser.submit(
        base + "new/", {"email": email, "role": "STAFF", "password": "short"}
    )
    assert short.status_code == 422
    created = browser.submit(
        base + "new/", {"email": email, "role": "STAFF", "password": "long-enough-1"}
    )
    assert created.status_code == 302
    listing = browser.get(base).get_data(as_text=True)
    assert email in listing
    assert "$argon2" not in listing


HOSTILE_FILTERS = [
    "flt0_0=abc",
    "flt0_0=voice",
    "flt0_0=%00",
    "flt0_1=%00",
    "flt0_3=%00",
    "flt0_4=zzz",
    "flt1_0=1&flt1_0=2",
    "flt99999999999999999999_0=1",
    "flt0_0=",
    "flt0_x=1",
    "flt_0=1",
]


@pytest.mark.parametrize("query", HOSTILE_FILTERS)
def test_a_filter_value_a_list_cannot_use_is_dropped_not_a_500(
    platform_browser: Browser, tenant: Any, query: str
) -> None:
    for path in ["/admin/tenants/", *(f"/admin/t/{tenant.id}/{s}" for s in LISTS)]:
        response = platform_browser.get(f"{path}?{query}")
        assert response.status_code == 200, (path, query)


def test_a_dropped_filter_is_named_on_the_page(platform_browser: Browser) -> None:
    response = platform_browser.get("/admin/tenants/?flt0_0=abc")
    assert "Invalid Filter Value: abc" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("slug", "form"),
    [
        (
            "phone-numbers/new/",
            {"number": "bad", "sip_credentials": {"username": "x", "password": "{}"}},
        ),
        (
            "whatsapp-channels/new/",
            {"wa_number": "bad", "wa_cloud_api_config": {"access_token": "{}"}},
        ),
        (
            "integrations/new/",
            {
                "type": "GOOGLE_CALENDAR",
                "config": {"service_account": {"private_key": "{}"}},
            },
        ),
        ("integrations/new/", {"type": "MAGICLINE", "config": '{"api_key": "{}",'}),
    ],
)
def test_a_refused_form_does_not_show_a_secret_typed_into_its_json(
    platform_browser: Browser, tenant: Any, slug: str, form: dict[str, Any]
) -> None:
    secret = f"typed-secret-{uuid.uuid4().hex[:8]}"
    data = {
        key: (json.dumps(value) if isinstance(value, dict) else value).replace(
            "{}", secret
        )
        for key, value in form.items()
    }
    response = platform_browser.submit(f"/admin/t/{tenant.id}/{slug}", data)
    assert response.status_code == 422
    assert secret not in response.get_data(as_text=True)
