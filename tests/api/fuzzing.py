"""Hypothesis strategies and the check shared by the API fuzz tests."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from collections.abc import Sequence
from typing import Any

from hypothesis import HealthCheck
from hypothesis import settings
from hypothesis import strategies as st

from tests.users import USER_PASSWORD

# Values no validator should choke on: empty, NUL (PostgreSQL cannot store it
# in text), an unpaired surrogate (not encodable as UTF-8), numbers at and
# beyond every bound, and the JSON-ish floats.
HOSTILE = [
    "",
    "\x00",
    "\ud800",
    0,
    2**64,
    -1,
    1.5,
    float("nan"),
    float("inf"),
    True,
    None,
]
# Characters no text or jsonb column can hold, and no UTF-8 can encode.
UNSTORABLE = ["\x00", "\ud800", "\udfff"]
# Raw query strings draw from these characters, so that some spell a key.
QUERY_ALPHABET = "%0123456789ABCDEF=&+;limtcursoneda"

ids = st.uuids().map(str) | st.text(alphabet="abc-0123456789%", max_size=40)
raw_bodies = st.binary(max_size=64) | st.text(max_size=64).map(str.encode)
# Text that every field takes; NUL and other controls come with the mutations.
printable = st.characters(min_codepoint=0x20, exclude_categories=["Cs", "Cc"])
passwords = st.sampled_from([USER_PASSWORD, "wrong-password"]) | st.text(
    printable, min_size=8, max_size=20
)
emails = st.one_of(
    st.builds(lambda: f"user-{uuid.uuid4().hex[:8]}@example.com"),
    st.builds(lambda: f"User-{uuid.uuid4().hex[:8]}@Example.COM"),
    st.emails(),
    st.sampled_from(["owner@example.com", "OWNER@EXAMPLE.COM"]),
)
SETTINGS = settings(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def json_values(near_valid: Sequence[Any], keys: Sequence[str]) -> Any:
    """Return a strategy of any JSON, with ``near_valid`` scalars and ``keys``."""
    scalars = (
        st.sampled_from(near_valid)
        | st.none()
        | st.booleans()
        | st.integers()
        | st.floats()
        | st.text(max_size=30)
    )
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(
                st.sampled_from(keys) | st.text(max_size=8), children, max_size=5
            )
        ),
        max_leaves=20,
    )


def bodies(values: Any, keys: Sequence[str]) -> Any:
    """Return a strategy of objects with ``keys`` and of bare ``values``."""
    return st.dictionaries(st.sampled_from(keys), values, max_size=6) | values


def _is_utf8(value: Any) -> bool:
    return isinstance(value, str) and value.encode(errors="replace").decode() == value


def query_values(near_valid: Sequence[Any]) -> Any:
    # Query strings travel as UTF-8, so they cannot hold unpaired surrogates.
    return (
        st.sampled_from([value for value in near_valid if _is_utf8(value)])
        | st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=40)
        | st.integers().map(str)
    )


def queries(values: Any, keys: Sequence[str]) -> Any:
    """Return a strategy of query strings: as a dict, or raw with percent-escapes
    of bytes that are not UTF-8 at all."""
    return st.dictionaries(st.sampled_from(keys), values, max_size=4) | st.text(
        alphabet=QUERY_ALPHABET, max_size=40
    )


def _encode_cursor(parts: Any) -> str:
    raw = json.dumps(parts).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# Cursors as a list encodes them (base64 of JSON ``[time, id]``), holding times
# beyond what a timestamp can hold, naive times, bad ids and other JSON.
cursors = st.builds(
    _encode_cursor,
    st.lists(
        st.sampled_from(
            [
                "2026-01-01T00:00:00+00:00",
                "0001-01-01T00:00:00+05:00",
                "9999-12-31T23:59:59-05:00",
                "2026-01-01T00:00:00",
                "6f1c1f7e-3a2b-4c5d-9e8f-0a1b2c3d4e5f",
                "00000000-0000-0000-0000-000000000000",
                "not-a-uuid",
                *HOSTILE,
            ]
        ),
        max_size=3,
    ),
)


def _nested_dicts(value: dict[str, Any], depth: int) -> Iterator[dict[str, Any]]:
    if depth < 1:
        return
    for child in value.values():
        if isinstance(child, dict):
            yield child
            yield from _nested_dicts(child, depth - 1)


@st.composite
def near_valid_bodies(draw, valid, keys, values, depth=1):
    """Draw a body of ``valid``, then change, drop, add or spoil up to two keys.

    A key to change may sit in the body or in an object nested at most
    ``depth`` levels below it. Spoiling puts a character PostgreSQL cannot
    store into a valid string, where random values would rarely put one.
    """
    body = draw(valid)
    for _ in range(draw(st.integers(0, 2))):
        nested = list(_nested_dicts(body, depth))
        target = (
            draw(st.sampled_from(nested)) if nested and draw(st.booleans()) else body
        )
        key = draw(st.sampled_from(sorted(target) or keys) | st.sampled_from(keys))
        action = draw(st.sampled_from(["drop", "change", "spoil"]))
        if action == "drop":
            target.pop(key, None)
        elif action == "spoil" and isinstance(target.get(key), str):
            target[key] += draw(st.sampled_from(UNSTORABLE))
        else:
            target[key] = draw(values)
    return body


def assert_no_server_error(response, request):
    """Assert ``response`` is no 5xx and an error is in the envelope of §6."""
    assert response.status_code < 500, (*request, response.get_data())
    if response.status_code >= 400:
        body = response.get_json()
        assert body["status"] == response.status_code
        assert isinstance(body["code"], str)
        assert isinstance(body["message"], str)


def draw_body(draw, valid, keys, values):
    """Draw a JSON body: half near-valid ones, then any JSON, then raw bytes."""
    # ``one_of`` drops a strategy object it already has, so the weight comes
    # from two equal but distinct ones.
    near_valid = [
        near_valid_bodies(valid, keys, values, depth=2).map(json.dumps)
        for _ in range(2)
    ]
    return draw(
        st.one_of(*near_valid, bodies(values, keys).map(json.dumps), raw_bodies)
    )


def known_or_random(draw, known):
    """Draw one of the ``known`` ids three times in four, else any id."""
    # Draw the same choices whatever the pool holds, so that Hypothesis sees
    # one strategy; the pool only decides what they mean.
    use_known, index, random_id = (
        draw(st.integers(0, 3)),
        draw(st.integers(0)),
        draw(ids),
    )
    return known[index % len(known)] if known and use_known else random_id
