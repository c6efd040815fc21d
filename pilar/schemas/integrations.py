"""Schemas of a tenant's integrations, with one ``config`` schema per type.

Secret keys use the ``Secret`` field: write-only, and optional when loading
(``load_config``), because a PUT that omits a stored secret keeps it; the
service checks that the required ones are set once merged.
"""

from __future__ import annotations

import codecs
import functools
import urllib.parse
import zoneinfo
from collections.abc import Iterator
from typing import Any

import marshmallow as ma
from marshmallow import fields
from marshmallow import validate

from pilar.errors import ValidationError
from pilar.models import TenantIntegrationType
from pilar.schemas.base import Schema
from pilar.schemas.fields import EmailAddress
from pilar.schemas.fields import JSONBoolean
from pilar.schemas.pagination import PageSchema

_NAME = validate.Regexp(
    r"^[a-z0-9-]{1,63}\Z", error="Must be 1 to 63 lower-case letters, digits or '-'."
)
_SLUG = validate.Regexp(
    r"^[A-Za-z0-9_-]{1,100}\Z", error="Must be 1 to 100 letters, digits, '_' or '-'."
)
_TEXT = validate.Length(min=1, max=1024)
# Where a service-account token may be fetched: Google's own token endpoints,
# never a host of the client's choosing.
_GOOGLE_TOKEN_HOSTS = ("oauth2.googleapis.com", "accounts.google.com")
# The longest field name a CSV config's column_map may name.
MAX_FIELD_NAME = 64


class Secret(fields.String):
    """A write-only string: encrypted at rest, never in a response."""

    def __init__(self, **kwargs: Any) -> None:
        metadata = {
            "writeOnly": True,
            "format": "password",
            **kwargs.pop("metadata", {}),
        }
        super().__init__(
            load_only=True,
            validate=validate.Length(min=1, max=8192),
            metadata=metadata,
            **kwargs,
        )


def _time_zone(value: str) -> None:
    if value not in _time_zones():
        raise ma.ValidationError("Not an IANA time zone, e.g. 'Europe/Berlin'.")


@functools.cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _encoding(value: str) -> None:
    try:
        codecs.lookup(value)
    except LookupError:
        raise ma.ValidationError("Not a text encoding Python knows.") from None


def _google_token_uri(value: str) -> None:
    url = urllib.parse.urlsplit(value)
    if url.scheme != "https" or url.hostname not in _GOOGLE_TOKEN_HOSTS:
        raise ma.ValidationError(
            "Must be an https URL on " + " or ".join(_GOOGLE_TOKEN_HOSTS) + "."
        )


class MagiclineConfigSchema(Schema):
    tenant = fields.String(
        required=True,
        validate=_NAME,
        metadata={
            "description": "The studio's Magicline tenant name; the API base URL "
            "is derived from it."
        },
    )
    api_key = Secret(required=True)
    studio_id = fields.Integer(
        strict=True, validate=validate.Range(min=1, max=2**63 - 1)
    )
    environment = fields.String(validate=validate.OneOf(["production", "sandbox"]))


class FitogramConfigSchema(Schema):
    provider_id = fields.UUID(
        metadata={"description": "Required unless `provider_slug` is given."}
    )
    provider_slug = fields.String(
        validate=_SLUG,
        metadata={"description": "Required unless `provider_id` is given."},
    )
    api_key = Secret(allow_none=True)

    @ma.validates_schema
    def _has_provider(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "provider_id" not in data and "provider_slug" not in data:
            message = "Give provider_id or provider_slug."
            raise ma.ValidationError(
                {"provider_id": [message], "provider_slug": [message]}
            )

    @ma.post_load
    def _uuid_as_text(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        if "provider_id" in data:
            data["provider_id"] = str(data["provider_id"])
        return data


class ServiceAccountSchema(Schema):
    type = fields.String(
        load_default="service_account",
        validate=validate.Equal("service_account"),
    )
    client_email = EmailAddress(required=True)
    private_key = Secret(required=True)
    private_key_id = Secret(allow_none=True)
    token_uri = fields.String(
        required=True,
        validate=[validate.Length(max=2048), _google_token_uri],
        metadata={
            "example": "https://oauth2.googleapis.com/token",
            "pattern": r"^https://(oauth2\.googleapis\.com|accounts\.google\.com)"
            r"(/[^\s]*)?$",
        },
    )


class GoogleCalendarConfigSchema(Schema):
    calendar_id = fields.String(required=True, validate=_TEXT)
    service_account = fields.Nested(ServiceAccountSchema, required=True)
    time_zone = fields.String(
        validate=_time_zone,
        metadata={
            "description": "An IANA time zone that the server's tz database has.",
            "example": "Europe/Berlin",
        },
    )


class CsvConfigSchema(Schema):
    delimiter = fields.String(
        load_default=",",
        validate=[
            validate.Length(equal=1),
            validate.NoneOf(['"', "\r", "\n"], error="Must not be a quote or newline."),
        ],
    )
    encoding = fields.String(
        load_default="utf-8",
        validate=[validate.Length(max=64), _encoding],
        metadata={
            "description": "The name of a text encoding that Python knows, such as "
            "`utf-8`, `latin-1` or `cp1252`."
        },
    )
    has_header = JSONBoolean(load_default=True)
    column_map = fields.Dict(
        keys=fields.String(validate=validate.Length(min=1, max=MAX_FIELD_NAME)),
        values=fields.String(validate=validate.Length(min=1, max=255)),
        metadata={
            "description": f"Our field name (1 to {MAX_FIELD_NAME} characters) → "
            "the CSV header that holds it."
        },
    )


CONFIG_SCHEMAS: dict[TenantIntegrationType, type[ma.Schema]] = {
    TenantIntegrationType.MAGICLINE: MagiclineConfigSchema,
    TenantIntegrationType.FITOGRAM: FitogramConfigSchema,
    TenantIntegrationType.GOOGLE_CALENDAR: GoogleCalendarConfigSchema,
    TenantIntegrationType.CSV: CsvConfigSchema,
}
# What the document says of a config schema beside its fields.
CONFIG_RULES: dict[TenantIntegrationType, dict[str, Any]] = {
    TenantIntegrationType.FITOGRAM: {
        "anyOf": [{"required": ["provider_id"]}, {"required": ["provider_slug"]}]
    },
}


def secret_paths(schema: ma.Schema, prefix: str = "") -> Iterator[str]:
    """Yield the dotted path of every ``Secret`` field of ``schema``."""
    for name, field in schema.fields.items():
        if isinstance(field, Secret):
            yield prefix + name
        elif isinstance(field, fields.Nested) and isinstance(field.schema, ma.Schema):
            yield from secret_paths(field.schema, f"{prefix}{name}.")


def load_config(type_: TenantIntegrationType, config: Any) -> dict[str, Any]:
    """Validate ``config`` for ``type_``; secrets may be omitted (kept if stored).

    Raises ``ValidationError`` with the messages under ``config``.
    """
    schema = CONFIG_SCHEMAS[type_]()
    try:
        loaded: dict[str, Any] = schema.load(
            config, partial=tuple(secret_paths(schema))
        )
    except ma.ValidationError as err:
        raise ValidationError(
            f"The {type_.value} config is not valid.",
            errors={"config": err.messages},
        ) from None
    return loaded


def config_component(type_: TenantIntegrationType) -> str:
    """Return the name of ``type_``'s config schema in the OpenAPI document."""
    return "".join(part.capitalize() for part in type_.value.split("_")) + "Config"


class IntegrationPutSchema(Schema):
    config = fields.Dict(required=True)
    active = JSONBoolean(load_default=True)


def integration_put_schema(type_: TenantIntegrationType) -> type[ma.Schema]:
    """Return the body schema of a PUT of a ``type_`` integration.

    Its ``config`` is loaded by ``load_config``; the document names the
    type's own config schema for it.
    """
    config = fields.Dict(
        required=True,
        metadata={
            "description": "Secrets may be omitted to keep the stored ones (a "
            "required one must have been set once, else 422), or set to null to "
            "remove an optional one.",
            "allOf": [{"$ref": f"#/components/schemas/{config_component(type_)}"}],
        },
    )
    name = config_component(type_).removesuffix("Config") + "IntegrationPutSchema"
    return IntegrationPutSchema.from_dict({"config": config}, name=name)


class IntegrationSchema(Schema):
    id = fields.UUID(dump_only=True)
    type = fields.Enum(TenantIntegrationType)
    config = fields.Dict(metadata={"description": "The config without its secrets."})
    active = fields.Boolean()
    secrets_set = fields.List(
        fields.String(),
        metadata={
            "description": "Paths of the secrets that are set, e.g. `api_key` or "
            "`service_account.private_key`; their values are never returned."
        },
    )
    created_at = fields.AwareDateTime(dump_only=True)
    updated_at = fields.AwareDateTime(dump_only=True)


class IntegrationPageSchema(PageSchema):
    items = fields.Nested(IntegrationSchema, many=True)
