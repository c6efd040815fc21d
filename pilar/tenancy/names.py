"""Tenant names, host and domain normalisation, domain validation, db schema names."""

from __future__ import annotations

import re
from collections.abc import Callable
from collections.abc import Iterable

from sqlalchemy.dialects.postgresql.base import RESERVED_WORDS

from pilar.errors import InvalidSchemaNameError
from pilar.errors import ValidationError
from pilar.models import MAX_TENANT_NAME_LENGTH
from pilar.validation.storable import UNSTORABLE_TEXT
from pilar.validation.storable import is_storable

SCHEMA_NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,62}", re.ASCII)
_LABEL_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?", re.ASCII)
_RESERVED_SCHEMAS = frozenset({"public", "information_schema"})
_MAX_SCHEMA_LENGTH = 63


def validate_tenant_name(name: str) -> str:
    """Return ``name`` without surrounding blanks if valid; else raise."""
    stripped = name.strip()
    if not stripped or len(stripped) > MAX_TENANT_NAME_LENGTH:
        message = f"Must have 1 to {MAX_TENANT_NAME_LENGTH} characters."
    elif not is_storable(stripped):
        message = UNSTORABLE_TEXT
    else:
        return stripped
    raise ValidationError(
        f"Tenant name {name!r} is not valid.", errors={"name": [message]}
    )


def normalize_host(host: str) -> str:
    """Return a Host header as it is matched against ``tenants.domain``.

    Lower-cased, without port and without the trailing dot of a fully
    qualified name. IPv6 literals keep their brackets.
    """
    host = host.strip().lower()
    if host.startswith("["):
        return host.partition("]")[0] + "]"
    return host.rpartition(":")[0].rstrip(".") if ":" in host else host.rstrip(".")


def validate_domain(domain: str, platform_hosts: Iterable[str]) -> str:
    """Return ``domain`` normalised, or raise ``ValidationError`` (RFC 1123)."""
    normalized = domain.strip().lower().removesuffix(".")
    labels = normalized.split(".")
    if (
        not normalized.isascii()
        or len(normalized) > 253
        or len(labels) < 2
        or not all(_LABEL_RE.fullmatch(label) for label in labels)
    ):
        raise ValidationError(
            f"Domain {domain!r} is not a valid host name.",
            errors={
                "domain": ["Must be an RFC 1123 host name with two labels or more."]
            },
        )
    if normalized in platform_hosts:
        raise ValidationError(
            f"Domain {domain!r} is a platform host.",
            errors={"domain": ["Must not be a platform host."]},
        )
    return normalized


def is_reserved_schema_name(name: str) -> bool:
    """Tell whether ``name`` belongs to PostgreSQL or is an SQL reserved word."""
    return name in _RESERVED_SCHEMAS or name.startswith("pg_") or name in RESERVED_WORDS


def validate_schema_name(name: str) -> str:
    """Return ``name`` if it may name a tenant db schema, else raise.

    The check is on the exact string: no case folding or trimming, so what is
    validated is what is created.
    """
    if not SCHEMA_NAME_RE.fullmatch(name):
        raise InvalidSchemaNameError(
            f"Schema name {name!r} is not valid.",
            errors={
                "schema_name": [
                    "Must match ^[a-z][a-z0-9_]{0,62}$: a lower-case ASCII letter, "
                    "then up to 62 lower-case letters, digits or underscores."
                ]
            },
        )
    if is_reserved_schema_name(name):
        raise InvalidSchemaNameError(
            f"Schema name {name!r} is reserved.",
            errors={"schema_name": ["Is reserved by PostgreSQL or SQL."]},
        )
    return name


def derive_schema_name(domain: str, is_taken: Callable[[str], bool]) -> str:
    """Derive a free, valid db schema name from the first label of ``domain``.

    ``is_taken`` tells whether a candidate is already in use; a numeric suffix
    is added until a candidate is free.
    """
    base = re.sub(r"[^a-z0-9_]", "_", domain.split(".", 1)[0].lower())
    # A suffix cannot make a pg_ name valid, and the name must start with a letter.
    if (
        not base
        or not base[0].isalpha()
        or not base.isascii()
        or base.startswith("pg_")
    ):
        base = f"t_{base}"
    base = base[:_MAX_SCHEMA_LENGTH]
    candidate, suffix = base, 1
    while is_reserved_schema_name(candidate) or is_taken(candidate):
        suffix += 1
        tail = f"_{suffix}"
        candidate = base[: _MAX_SCHEMA_LENGTH - len(tail)] + tail
    return validate_schema_name(candidate)
