"""JSON configs with secrets, as the services store them (``pilar.security.sealed``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any
from typing import overload

from pilar.errors import ValidationError
from pilar.errors import field_errors
from pilar.security import sealed


@dataclasses.dataclass(frozen=True)
class SealedConfig:
    """A config field whose ``secret_keys`` are encrypted at rest and write-only.

    ``field`` is the request's name for the config; ``required`` names the
    secrets it must have, and ``message`` says so when one is missing.
    """

    field: str
    secret_keys: tuple[str, ...]
    required: tuple[str, ...]
    message: str

    @overload
    def store(
        self, new: Mapping[str, Any], old: Mapping[str, Any] | None
    ) -> dict[str, Any]: ...

    @overload
    def store(self, new: None, old: Mapping[str, Any] | None) -> None: ...

    def store(
        self, new: Mapping[str, Any] | None, old: Mapping[str, Any] | None
    ) -> dict[str, Any] | None:
        """Return ``new`` as it is stored: its secrets encrypted, those it omits
        kept from ``old`` (the stored config, ``None`` on create).

        ``None`` stays ``None``: the config is removed. A required secret set
        in neither raises ``ValidationError``, naming it under ``field``.
        """
        if new is None:
            return None
        keys = self.secret_keys
        stored = sealed.merge_secrets(
            sealed.encrypt_secrets(new, keys), old or {}, keys
        )
        present = set(sealed.secrets_set(stored, self.required))
        missing = [f"{self.field}.{key}" for key in self.required if key not in present]
        if missing:
            raise ValidationError(
                self.message,
                errors=field_errors(missing, "Missing data for required field."),
            )
        return stored
