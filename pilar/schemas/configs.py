"""A stored config with secrets, as a response shows it (``pilar.security.sealed``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from typing import ClassVar

import marshmallow as ma

from pilar.schemas.base import Schema
from pilar.security.sealed import secrets_set


class StoredConfigSchema(Schema):
    """Dumps a stored config with ``secrets_set``: the paths of its secrets that
    have a value, out of ``secret_keys``.

    A subclass declares the ``secrets_set`` field itself, where the document
    shows it, and declares no field for a secret, so that no value of one is
    ever dumped.
    """

    secret_keys: ClassVar[tuple[str, ...]] = ()

    @ma.pre_dump
    def _name_secrets(self, config: Mapping[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {**config, "secrets_set": secrets_set(config, self.secret_keys)}
