"""The numbers the OpenAPI document states in words are the code's constants.

Descriptions are prose, so nothing else would notice a limit that changed in
the code while the document kept the old figure. Each test reads the figure
back out of the served text and compares it with the constant it comes from.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from pilar.services import auth

# "one" is left out: the text says "one email" and "the one before".
NUMBER_WORDS = re.compile(
    r"\b(two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
    r"fifteen|twenty|thirty|sixty|hundred)\b",
    re.IGNORECASE,
)
_UNITS = {"second": 1, "minute": 60, "hour": 3600}
_SPAN = r"(\d+) (second|minute|hour)s?"


@pytest.fixture(scope="module")
def document(app) -> dict[str, Any]:
    body: dict[str, Any] = app.test_client().get("/api/openapi.json").get_json()
    return body


def said(text: str, pattern: str) -> str:
    """Return what the one group of ``pattern`` matches in ``text``."""
    match = re.search(pattern, text)
    assert match is not None, (pattern, text)
    return match.group(1)


def span(text: str, before: str) -> dt.timedelta:
    """Return the span of time that ``text`` states right after ``before``."""
    match = re.search(re.escape(before) + " " + _SPAN, text)
    assert match is not None, (before, text)
    return dt.timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


def sign_in(document: dict[str, Any]) -> str:
    description: str = document["paths"]["/api/v1/auth/token"]["post"]["description"]
    return description


def test_the_sign_in_lock_count_is_the_throttles_constant(document):
    text = sign_in(document)
    assert int(said(text, r"After (\d+) failed sign-ins")) == auth.MAX_FAILURES
    # The count is stated once, and no other figure stands for it.
    assert re.findall(r"(\w+) failed sign-ins", text) == [str(auth.MAX_FAILURES)]


def test_the_sign_in_text_spells_out_no_number(document):
    assert NUMBER_WORDS.search(sign_in(document)) is None


def test_the_sign_in_lock_times_are_the_throttles_constants(document):
    text = sign_in(document)
    assert span(text, "each within") == auth.FAILURE_WINDOW
    assert span(text, "`Retry-After`, for") == auth.LOCKOUT
    assert span(text, "up to") == auth.MAX_LOCKOUT
