"""Fields shared by the tenant API's schemas: text, times, numbers, hosts, JSON."""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from typing import Any

import phonenumbers
from marshmallow import fields

from pilar.validation.emails import MAX_LENGTH
from pilar.validation.emails import MAX_LOCAL_PART_LENGTH
from pilar.validation.emails import is_valid_email
from pilar.validation.emails import within_limits

# E.164 as written: "+", a country code that starts with 1-9, at most 15
# digits in all, nothing else (no spaces, punctuation, letters or extension).
_E164_RE = re.compile(r"\+[1-9][0-9]{1,14}", re.ASCII)
_HOST_LABEL_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?", re.ASCII)
# A host name label, and an RFC 1123 host name of two labels or more, as the
# document states them; its length is limited apart (253).
_LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOST_NAME_PATTERN = rf"^(?:{_LABEL}\.)+{_LABEL}$"
# The same, but a top-level label that starts with a letter: never an IPv4
# address, nor something that looks like one.
_SERVER_NAME_PATTERN = rf"^(?:{_LABEL}\.)+[A-Za-z](?:[A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?$"
# Text with a character that str.strip() keeps: Python's blanks, as ranges.
NOT_BLANK_PATTERN = (
    r"[^\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
)


class EmailAddress(fields.String):
    """An email address as ``pilar.validation.emails`` states it, CLI and API alike.

    Not marshmallow's ``Email``, whose rule differs (it takes quoted local
    parts, ``localhost`` and address literals); only its ``format: email``
    in the document remains.
    """

    default_error_messages = {  # noqa: RUF012  # marshmallow merges these per class
        "invalid": "Not a valid email address.",
        "too_long": f"Must have at most {MAX_LENGTH} characters, "
        f"{MAX_LOCAL_PART_LENGTH} of them before the @.",
    }

    def __init__(self, **kwargs: Any) -> None:
        metadata = {
            "format": "email",
            "maxLength": MAX_LENGTH,
            **kwargs.pop("metadata", {}),
        }
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(
        self, value: Any, attr: str | None, data: Any, **kwargs: Any
    ) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if not within_limits(text):
            raise self.make_error("too_long")
        if not is_valid_email(text):
            raise self.make_error("invalid")
        return text


class JSONBoolean(fields.Boolean):
    """``true`` or ``false``; marshmallow's own reads "yes", "off", 0 or 1 too."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Any, **kwargs: Any
    ) -> bool:
        if value is True or value is False:
            return value
        raise self.make_error("invalid")


class UTCDateTime(fields.AwareDateTime):
    """An ISO 8601 date and time with a time zone, loaded in UTC; naive ones fail."""

    default_error_messages = {  # noqa: RUF012  # marshmallow merges these per class
        "out_of_range": "Must lie between the years 1 and 9999 in UTC."
    }

    def _deserialize(
        self, value: Any, attr: str | None, data: Any, **kwargs: Any
    ) -> dt.datetime:
        moment = super()._deserialize(value, attr, data, **kwargs)
        try:
            return moment.astimezone(dt.UTC)
        except OverflowError:
            raise self.make_error("out_of_range") from None


class E164Number(fields.String):
    """A phone number in E.164 form that libphonenumber judges valid.

    Only the form itself is accepted: ``"+49 30 901820"`` is refused rather
    than guessed at, as is anything over 15 digits, which libphonenumber
    alone would let through for some countries.
    """

    default_error_messages = {  # noqa: RUF012  # marshmallow merges these per class
        "invalid_number": "Must be a valid phone number in E.164 form, "
        "such as +4930901820."
    }

    def __init__(self, **kwargs: Any) -> None:
        metadata = {
            "description": "E.164: `+`, country code and number, at most 15 "
            "digits. libphonenumber must judge it a valid number of its country, "
            "else 422.",
            "pattern": f"^{_E164_RE.pattern}$",
            "example": "+4930901820",
            **kwargs.pop("metadata", {}),
        }
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(
        self, value: Any, attr: str | None, data: Any, **kwargs: Any
    ) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if not _E164_RE.fullmatch(text):
            raise self.make_error("invalid_number")
        try:
            number = phonenumbers.parse(text, None)
        except phonenumbers.NumberParseException:
            raise self.make_error("invalid_number") from None
        if not phonenumbers.is_valid_number(number):
            raise self.make_error("invalid_number")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


class HostName(fields.String):
    """An RFC 1123 host name of two labels or more, or an IP address; lower-cased."""

    default_error_messages = {  # noqa: RUF012  # marshmallow merges these per class
        "invalid_host": "Must be a host name such as sip.example.com, or an IP address."
    }

    def __init__(self, **kwargs: Any) -> None:
        # The document asks a top-level label to start with a letter, where
        # the server asks only that it not be all digits (so that 10.0.0.256
        # is no host name): a narrower rule, and simpler to say.
        metadata = {
            "maxLength": 253,
            "anyOf": [
                {"pattern": _SERVER_NAME_PATTERN},
                {"format": "ipv4"},
                {"format": "ipv6"},
            ],
            **kwargs.pop("metadata", {}),
        }
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(
        self, value: Any, attr: str | None, data: Any, **kwargs: Any
    ) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return str(ipaddress.ip_address(text))
        except ValueError:
            pass
        host = text.lower().removesuffix(".")
        labels = host.split(".")
        if (
            len(host) > 253
            or len(labels) < 2
            or not all(_HOST_LABEL_RE.fullmatch(label) for label in labels)
            or labels[-1].isdigit()
        ):
            raise self.make_error("invalid_host")
        return host


class JSONObject(fields.Dict):
    """A JSON object, stored as it is; what jsonb cannot hold, the schema refuses."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(keys=fields.String(), **kwargs)
