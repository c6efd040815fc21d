"""JSON configs with secrets, as the services store them (``pilar.security.sealed``)."""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from typing import Any

from pilar.errors import ValidationError
from pilar.errors import field_errors
from pilar.security import sealed


def store_config(
    new: Mapping[str, Any],
    old: Mapping[str, Any] | None,
    secret_keys: Iterable[str],
    *,
    required: Iterable[str],
    field: str,
    message: str,
) -> dict[str, Any]:
    """Return ``new`` as it is stored: its secrets encrypted, those it omits kept.

    ``old`` is the stored config (``None`` on create). A ``required`` secret
    that is set in neither raises ``ValidationError`` with ``message``, naming
    it under ``field`` as the request's field for the config.
    """
    keys = tuple(secret_keys)
    stored = sealed.merge_secrets(sealed.encrypt_secrets(new, keys), old or {}, keys)
    required = tuple(required)
    present = set(sealed.secrets_set(stored, required))
    missing = [f"{field}.{path}" for path in required if path not in present]
    if missing:
        raise ValidationError(
            message, errors=field_errors(missing, "Missing data for required field.")
        )
    return stored
