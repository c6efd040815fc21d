from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import pytest

from pilar.db.extensions import db
from pilar.models import Channel
from pilar.models import Conversation
from pilar.models import PhoneNumber
from pilar.models import WhatsAppChannel
from pilar.models import WorkoutPlan
from pilar.tenancy import tenant_scope
from tests.api.conftest import TenantActions
from tests.conftest import UNKNOWN_ID


def _cursor(value: Any) -> str:
    """A cursor made of any JSON, encoded as the service encodes its own."""
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


# JSON values that stand where a cursor's id, a string, belongs.
NOT_IDS: list[Any] = [5, 1.5, True, None, {}, [UNKNOWN_ID], 2**80]

# path → (a valid POST body, a row built directly) for each tenant list.
RESOURCES = {
    "/api/v1/phone-numbers": (
        lambda number: {"number": number},
        lambda number: PhoneNumber(number=number),
    ),
    "/api/v1/whatsapp-channels": (
        lambda number: {"wa_number": number},
        lambda number: WhatsAppChannel(wa_number=number),
    ),
    "/api/v1/conversations": (
        lambda number: {"channel": "VOICE"},
        lambda number: Conversation(channel=Channel.VOICE),
    ),
    "/api/v1/workout-plans": (
        lambda number: {"plan": {}},
        lambda number: WorkoutPlan(plan={}),
    ),
}


@pytest.fixture
def studio(app, client, make_tenant):
    """A throwaway tenant whose lists hold only what the test puts there."""
    return TenantActions(app, client, make_tenant())


def walk(actions, path, limit, **query):
    """Follow ``next_cursor`` to the end; return the ids of every page."""
    pages, cursor = [], None
    while True:
        args = {"limit": limit, **query, **({"cursor": cursor} if cursor else {})}
        response = actions.request("GET", path, query_string=args)
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        assert set(body) == {"items", "next_cursor"}
        assert len(body["items"]) <= limit
        pages.append(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


def insert_with_one_timestamp(app, actions, path, new_number, count):
    """Insert ``count`` rows that share one ``created_at`` (keyset ties)."""
    _, build = RESOURCES[path]
    moment = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    with app.app_context(), tenant_scope(actions.tenant.domain):
        rows: list[Any] = [build(new_number()) for _ in range(count)]
        for row in rows:
            row.created_at = moment
        db.session.add_all(rows)
        db.session.commit()
        return [str(row.id) for row in rows]


@pytest.mark.parametrize("path", RESOURCES)
@pytest.mark.parametrize("limit", [1, 3, 50])
def test_pagination_walks_every_row_once_newest_first(
    app, studio, new_number, path, limit
):
    body, _ = RESOURCES[path]
    tied = insert_with_one_timestamp(app, studio, path, new_number, 4)
    created = []
    for _ in range(5):
        response = studio.request("POST", path, json=body(new_number()))
        assert response.status_code == 201
        created.append(response.get_json())
    pages = walk(studio, path, limit)
    rows = [row for page in pages for row in page]
    ids = [row["id"] for row in rows]
    assert len(ids) == len(set(ids)) == 9
    # Newest first: the posted rows in reverse, then the tied ones by id.
    assert ids[:5] == [row["id"] for row in reversed(created)]
    assert ids[5:] == sorted(tied, reverse=True)
    assert all(len(page) == limit for page in pages[:-1])


@pytest.mark.parametrize("path", RESOURCES)
def test_rows_created_during_a_walk_do_not_shift_it(studio, new_number, path):
    body, _ = RESOURCES[path]
    before = [
        studio.request("POST", path, json=body(new_number())).get_json()["id"]
        for _ in range(4)
    ]
    first = studio.request("GET", path, query_string={"limit": 2}).get_json()
    studio.request("POST", path, json=body(new_number()))
    rest = walk(studio, path, 2, cursor=first["next_cursor"])
    seen = [row["id"] for row in first["items"]]
    seen += [row["id"] for page in rest for row in page]
    assert seen == list(reversed(before))


@pytest.mark.parametrize("path", RESOURCES)
def test_empty_list_has_no_next_cursor(studio, path):
    response = studio.request("GET", path)
    assert response.status_code == 200
    assert response.get_json() == {"items": [], "next_cursor": None}


@pytest.mark.parametrize("path", RESOURCES)
@pytest.mark.parametrize(
    "query",
    [
        {"limit": 0},
        {"limit": 201},
        {"limit": -5},
        {"limit": "many"},
        {"cursor": "garbage"},
        {"cursor": "W10"},  # base64 of "[]"
        {"cursor": "x" * 600},
        {"cursor": "WyIyMDI2LTAxLTAxVDAwOjAwOjAwIiwgIm5vdC1hLXV1aWQiXQ"},
        # Well-formed JSON that is not [time, id] as text.
        *(
            {"cursor": _cursor(["2026-01-01T00:00:00+00:00", other])}
            for other in NOT_IDS
        ),
        {"cursor": _cursor([5, UNKNOWN_ID])},
        {"cursor": _cursor(["2026-01-01T00:00:00+00:00", UNKNOWN_ID, "more"])},
        {"cursor": _cursor({"created_at": "2026-01-01T00:00:00+00:00"})},
        {"cursor": _cursor("2026-01-01T00:00:00+00:00")},
    ],
)
def test_bad_limit_or_cursor_is_422(acme, path, query):
    response = acme.request("GET", path, query_string=query)
    assert response.status_code == 422
    body = response.get_json()
    assert body["code"] == "validation_error"
    assert set(body["errors"]) == set(query)


@pytest.mark.parametrize("path", RESOURCES)
def test_limit_200_is_allowed(acme, path):
    assert acme.request("GET", path, query_string={"limit": 200}).status_code == 200
