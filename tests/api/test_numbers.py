from __future__ import annotations

import secrets
import threading
import time
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from pilar.db.extensions import db
from pilar.models import ClaimedNumber
from pilar.models import NumberKind
from pilar.models import Role
from pilar.tenancy.fleet import provisioning
from tests.api.conftest import TenantActions

PHONES = "/api/v1/phone-numbers"
CHANNELS = "/api/v1/whatsapp-channels"


def new_phone_number_id():
    return str(10**14 + secrets.randbelow(10**14))


def wa_config(phone_number_id):
    return {
        "phone_number_id": phone_number_id,
        "business_account_id": "102290129340398",
        "access_token": "EAAG-token",
    }


def post(actions, path, body):
    return actions.request("POST", path, json=body)


def claims(app, value):
    with app.app_context():
        rows = db.session.scalars(
            sa.select(ClaimedNumber).where(ClaimedNumber.value == value)
        ).all()
        return [(row.kind, row.tenant_id, row.owner_id) for row in rows]


def test_claiming_a_number_writes_the_public_index(app, acme, new_number):
    number = new_number()
    created = post(acme, PHONES, {"number": number}).get_json()
    assert claims(app, number) == [
        (NumberKind.PHONE, acme.tenant.id, uuid.UUID(created["id"]))
    ]


def test_whatsapp_channel_claims_its_number_and_phone_number_id(app, acme, new_number):
    number, phone_number_id = new_number(), new_phone_number_id()
    response = post(
        acme,
        CHANNELS,
        {"wa_number": number, "wa_cloud_api_config": wa_config(phone_number_id)},
    )
    owner = uuid.UUID(response.get_json()["id"])
    assert claims(app, number) == [(NumberKind.WHATSAPP, acme.tenant.id, owner)]
    assert claims(app, phone_number_id) == [
        (NumberKind.WHATSAPP_PHONE_NUMBER_ID, acme.tenant.id, owner)
    ]


@pytest.mark.parametrize(
    ("path", "field"), [(PHONES, "number"), (CHANNELS, "wa_number")]
)
def test_number_held_by_another_tenant_is_409(acme, globex, new_number, path, field):
    number = new_number()
    assert post(acme, path, {field: number}).status_code == 201
    response = post(globex, path, {field: number})
    assert response.status_code == 409
    body = response.get_json()
    assert body["code"] == "conflict"
    assert body["errors"] == {field: ["Already in use."]}


@pytest.mark.parametrize(
    ("path", "field"), [(PHONES, "number"), (CHANNELS, "wa_number")]
)
def test_number_held_in_the_same_tenant_is_409(acme, new_number, path, field):
    number = new_number()
    assert post(acme, path, {field: number}).status_code == 201
    assert post(acme, path, {field: number}).status_code == 409


def test_a_held_number_in_another_form_is_refused_not_claimed(acme, globex, new_number):
    number = new_number()
    assert post(acme, PHONES, {"number": number}).status_code == 201
    spaced = f"{number[:2]} ({number[2:5]}) {number[5:8]}-{number[8:]}"
    assert post(globex, PHONES, {"number": spaced}).status_code == 422
    assert post(globex, PHONES, {"number": number}).status_code == 409


def test_phone_number_id_held_by_another_tenant_is_409_and_claims_nothing(
    app, acme, globex, new_number
):
    phone_number_id = new_phone_number_id()
    first = {
        "wa_number": new_number(),
        "wa_cloud_api_config": wa_config(phone_number_id),
    }
    assert post(acme, CHANNELS, first).status_code == 201
    free_number = new_number()
    response = post(
        globex,
        CHANNELS,
        {"wa_number": free_number, "wa_cloud_api_config": wa_config(phone_number_id)},
    )
    assert response.status_code == 409
    assert response.get_json()["errors"] == {
        "wa_cloud_api_config": {"phone_number_id": ["Already in use."]}
    }
    # The number claimed earlier in the same transaction was rolled back.
    assert claims(app, free_number) == []
    assert post(globex, CHANNELS, {"wa_number": free_number}).status_code == 201


def test_one_number_may_serve_voice_and_whatsapp(acme, new_number):
    number = new_number()
    assert post(acme, PHONES, {"number": number}).status_code == 201
    assert post(acme, CHANNELS, {"wa_number": number}).status_code == 201


@pytest.mark.parametrize(
    ("path", "field"), [(PHONES, "number"), (CHANNELS, "wa_number")]
)
def test_deleting_frees_the_number(app, acme, globex, new_number, path, field):
    number = new_number()
    created = post(acme, path, {field: number}).get_json()
    assert acme.request("DELETE", f"{path}/{created['id']}").status_code == 204
    assert claims(app, number) == []
    assert post(globex, path, {field: number}).status_code == 201


def test_deleting_a_channel_frees_its_phone_number_id(app, acme, globex, new_number):
    phone_number_id = new_phone_number_id()
    created = post(
        acme,
        CHANNELS,
        {"wa_number": new_number(), "wa_cloud_api_config": wa_config(phone_number_id)},
    ).get_json()
    acme.request("DELETE", f"{CHANNELS}/{created['id']}")
    assert claims(app, phone_number_id) == []
    response = post(
        globex,
        CHANNELS,
        {"wa_number": new_number(), "wa_cloud_api_config": wa_config(phone_number_id)},
    )
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("path", "field"), [(PHONES, "number"), (CHANNELS, "wa_number")]
)
def test_changing_the_number_frees_the_old_one(
    app, acme, globex, new_number, path, field
):
    old, new = new_number(), new_number()
    created = post(acme, path, {field: old}).get_json()
    response = acme.request("PATCH", f"{path}/{created['id']}", json={field: new})
    assert response.status_code == 200
    assert response.get_json()[field] == new
    assert [kind for kind, *_ in claims(app, new)] != []
    assert claims(app, old) == []
    assert post(globex, path, {field: old}).status_code == 201
    assert post(globex, path, {field: new}).status_code == 409


def test_patching_to_the_same_number_keeps_the_claim(app, acme, new_number):
    number = new_number()
    created = post(acme, PHONES, {"number": number}).get_json()
    response = acme.request(
        "PATCH", f"{PHONES}/{created['id']}", json={"number": number}
    )
    assert response.status_code == 200
    assert len(claims(app, number)) == 1


@pytest.mark.parametrize("replacement", ["new", None])
def test_changing_the_config_frees_the_old_phone_number_id(
    app, acme, new_number, replacement
):
    old = new_phone_number_id()
    created = post(
        acme,
        CHANNELS,
        {"wa_number": new_number(), "wa_cloud_api_config": wa_config(old)},
    ).get_json()
    new = new_phone_number_id() if replacement else None
    response = acme.request(
        "PATCH",
        f"{CHANNELS}/{created['id']}",
        json={"wa_cloud_api_config": wa_config(new) if new else None},
    )
    assert response.status_code == 200
    assert claims(app, old) == []
    if new:
        assert len(claims(app, new)) == 1


def test_a_refused_change_keeps_the_old_number(app, acme, globex, new_number):
    mine, theirs = new_number(), new_number()
    created = post(acme, PHONES, {"number": mine}).get_json()
    post(globex, PHONES, {"number": theirs})
    response = acme.request(
        "PATCH",
        f"{PHONES}/{created['id']}",
        json={"number": theirs, "status": "ACTIVE"},
    )
    assert response.status_code == 409
    assert acme.request("GET", f"{PHONES}/{created['id']}").get_json() == created
    assert [tenant for _, tenant, _ in claims(app, mine)] == [acme.tenant.id]


def test_dropping_a_tenant_frees_its_numbers(
    app, client, make_tenant, acme, new_number
):
    studio = TenantActions(app, client, make_tenant())
    number = new_number()
    assert post(studio, PHONES, {"number": number}).status_code == 201
    with app.app_context():
        provisioning.drop_tenant(studio.tenant.id)
    assert claims(app, number) == []
    assert post(acme, PHONES, {"number": number}).status_code == 201


def _race(app, path, entries):
    """POST each (tenant, body) of ``entries`` at once, one thread each.

    Returns (status, actions, response body) per entry, in finishing order.
    """
    racers = [
        (TenantActions(app, app.test_client(), tenant), body)
        for tenant, body in entries
    ]
    tokens = [racer.token(Role.ADMIN) for racer, _ in racers]
    barrier = threading.Barrier(len(racers))
    results: list[tuple[int, TenantActions, dict[str, Any]]] = []
    failures: list[BaseException] = []

    def run(racer, body, token):
        try:
            barrier.wait(timeout=10)
            response = racer.request(
                "POST",
                path,
                role=None,
                headers={"Authorization": f"Bearer {token}"},
                json=body,
            )
            results.append((response.status_code, racer, response.get_json()))
        except BaseException as error:  # reported by the main thread
            failures.append(error)

    threads = [
        threading.Thread(target=run, args=(racer, body, token))
        for (racer, body), token in zip(racers, tokens, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures, failures
    return results


@pytest.mark.parametrize("round_", range(5))
@pytest.mark.parametrize(
    ("path", "field"), [(PHONES, "number"), (CHANNELS, "wa_number")]
)
def test_two_tenants_racing_for_one_number_one_wins(
    app, tenant, other_tenant, new_number, path, field, round_
):
    number = new_number()
    body = {field: number}
    results = _race(app, path, [(tenant, body), (other_tenant, body)])
    assert sorted(status for status, _, _ in results) == [201, 409]
    [(winner, created)] = [
        (racer, body) for status, racer, body in results if status == 201
    ]
    assert [tenant_id for _, tenant_id, _ in claims(app, number)] == [winner.tenant.id]
    assert winner.request("DELETE", f"{path}/{created['id']}").status_code == 204
    assert claims(app, number) == []


def test_two_tenants_racing_for_one_phone_number_id_one_wins(
    app, tenant, other_tenant, new_number
):
    phone_number_id = new_phone_number_id()
    numbers = [new_number(), new_number()]
    entries = [
        (
            racer,
            {"wa_number": number, "wa_cloud_api_config": wa_config(phone_number_id)},
        )
        for racer, number in zip([tenant, other_tenant], numbers, strict=True)
    ]
    results = _race(app, CHANNELS, entries)
    assert sorted(status for status, _, _ in results) == [201, 409]
    assert len(claims(app, phone_number_id)) == 1
    # The loser's wa_number was claimed in the transaction that failed.
    assert sorted(len(claims(app, number)) for number in numbers) == [0, 1]


def _wait_for_a_lock_wait(conn, deadline=10.0):
    started = time.monotonic()
    waiting = sa.text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE wait_event_type = 'Lock' AND datname = current_database()"
    )
    # Each poll in a transaction of its own: activity is a snapshot per transaction.
    while not conn.execute(waiting).scalar():
        conn.rollback()
        assert time.monotonic() - started < deadline, "the request never waited"
        time.sleep(0.02)


def test_a_deadlocked_claim_is_409_and_changes_nothing(
    app, tenant, other_tenant, new_number
):
    acme = TenantActions(app, app.test_client(), tenant)
    globex = TenantActions(app, app.test_client(), other_tenant)
    mine, theirs = new_number(), new_number()
    my_channel = post(acme, CHANNELS, {"wa_number": mine}).get_json()
    their_channel = post(globex, CHANNELS, {"wa_number": theirs}).get_json()
    token = globex.token()
    statuses: list[int] = []

    def swap():
        response = globex.request(
            "PATCH",
            f"{CHANNELS}/{their_channel['id']}",
            role=None,
            headers={"Authorization": f"Bearer {token}"},
            json={"wa_number": mine},
        )
        statuses.append(response.status_code)

    with app.app_context():
        engine = db.engine
    # This transaction swaps the other way: it frees ``mine``, waits until the
    # request (which freed ``theirs``) waits for ``mine``, then claims
    # ``theirs``. The request waited first, so its deadlock check runs first.
    with engine.connect() as conn, engine.connect() as monitor:
        transaction = conn.begin()
        conn.execute(
            sa.delete(ClaimedNumber).where(
                ClaimedNumber.kind == NumberKind.WHATSAPP, ClaimedNumber.value == mine
            )
        )
        thread = threading.Thread(target=swap)
        thread.start()
        _wait_for_a_lock_wait(monitor)
        with pytest.raises(IntegrityError):
            conn.execute(
                sa.insert(ClaimedNumber).values(
                    kind=NumberKind.WHATSAPP,
                    value=theirs,
                    tenant_id=tenant.id,
                    owner_id=uuid.UUID(my_channel["id"]),
                )
            )
        transaction.rollback()
        thread.join(timeout=30)
    assert statuses == [409]
    assert [t for _, t, _ in claims(app, mine)] == [tenant.id]
    assert [t for _, t, _ in claims(app, theirs)] == [other_tenant.id]
    assert globex.request("GET", f"{CHANNELS}/{their_channel['id']}").get_json() == (
        their_channel
    )
