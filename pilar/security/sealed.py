"""Secret values inside JSON configs: encrypted at rest, write-only in the API.

A secret is named by its dotted path in a config: ``"api_key"``,
``"service_account.private_key"``. At rest each secret value is a Fernet token
(a string); everything else in the config stays plain JSON.

Keys come from the app config: ``SECRET_KEY`` encrypts, and ``SECRET_KEY`` plus
every key of ``SECRET_KEY_FALLBACKS`` (Flask's own list of retired keys, from
``PILAR_SECRET_KEY_FALLBACKS='["old-key"]'``) decrypt. A Fernet key is derived
from each with HKDF-SHA256, so the signing key itself never encrypts anything.

Writing a config, where ``new`` is what the client sent and ``old`` is what is
stored (``{}`` on create)::

    stored = merge_secrets(encrypt_secrets(new, SECRET_KEYS), old, SECRET_KEYS)

Reading one for a response: ``redact_secrets(stored, SECRET_KEYS)`` and
``secrets_set(stored, SECRET_KEYS)``; for use by the service itself:
``decrypt_secrets(stored, SECRET_KEYS)``.
"""

from __future__ import annotations

import base64
import copy
import functools
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from typing import Any

from cryptography.fernet import Fernet
from cryptography.fernet import InvalidToken
from cryptography.fernet import MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

from pilar.errors import ConfigurationError

__all__ = [
    "SecretDecryptionError",
    "decrypt_secrets",
    "encrypt_secrets",
    "merge_secrets",
    "redact_secrets",
    "reencrypt_secrets",
    "secrets_set",
]

# Changing either value makes every stored secret unreadable.
# The module's first name: secrets sealed under it must still open.
_HKDF_SALT = b"pilar.secrets"
_HKDF_INFO = b"pilar.secrets.fernet.v1"

_MISSING = object()


class SecretDecryptionError(RuntimeError):
    """A stored secret cannot be decrypted with any configured key.

    The server is misconfigured (a retired key was dropped from
    ``SECRET_KEY_FALLBACKS`` too early); never the client's fault.
    """


def encrypt_secrets(
    config: Mapping[str, Any], secret_keys: Iterable[str]
) -> dict[str, Any]:
    """Return a copy of ``config`` with each secret that is set encrypted.

    Secrets that are absent or ``None`` are left as they are, so ``None`` can
    still tell ``merge_secrets`` to remove a stored secret.
    """
    return _map_secrets(config, secret_keys, _encrypt)


def decrypt_secrets(
    config: Mapping[str, Any], secret_keys: Iterable[str]
) -> dict[str, Any]:
    """Return a copy of a stored ``config`` with its secrets in plain text.

    Raises ``SecretDecryptionError`` if no configured key opens one of them.
    """
    return _map_secrets(config, secret_keys, _decrypt)


def reencrypt_secrets(
    config: Mapping[str, Any], secret_keys: Iterable[str]
) -> dict[str, Any]:
    """Return a copy of a stored ``config`` with its secrets under the current key.

    Run over stored configs after a key rotation, before the old key leaves
    ``SECRET_KEY_FALLBACKS``.
    """
    return _map_secrets(config, secret_keys, _rotate)


def merge_secrets(
    new: Mapping[str, Any], old: Mapping[str, Any], secret_keys: Iterable[str]
) -> dict[str, Any]:
    """Return ``new`` with every secret it omits taken from ``old``.

    A secret that ``new`` sets to ``None`` is removed rather than kept. Only
    secrets travel from ``old``: every other key is exactly as in ``new``, and
    a secret whose parent object ``new`` omits is not brought back. Both
    configs must be in the same form (both encrypted, as stored).
    """
    merged = copy.deepcopy(dict(new))
    for path in secret_keys:
        value = _get(merged, path)
        if value is None:
            _delete(merged, path)
        if value is _MISSING:
            kept = _get(old, path)
            if kept is not _MISSING and kept is not None:
                _set(merged, path, kept)
    return merged


def secrets_set(config: Mapping[str, Any], secret_keys: Iterable[str]) -> list[str]:
    """Return the sorted paths of the secrets ``config`` has a value for."""
    return sorted(
        path for path in secret_keys if _get(config, path) not in (_MISSING, None)
    )


def redact_secrets(
    config: Mapping[str, Any], secret_keys: Iterable[str]
) -> dict[str, Any]:
    """Return a copy of ``config`` without its secrets, fit for a response."""
    redacted = copy.deepcopy(dict(config))
    for path in secret_keys:
        _delete(redacted, path)
    return redacted


def _map_secrets(
    config: Mapping[str, Any],
    secret_keys: Iterable[str],
    transform: Callable[[MultiFernet, str, Any], str],
) -> dict[str, Any]:
    fernet = _fernet()
    result = copy.deepcopy(dict(config))
    for path in secret_keys:
        value = _get(result, path)
        if value is not _MISSING and value is not None:
            _set(result, path, transform(fernet, path, value))
    return result


def _encrypt(fernet: MultiFernet, path: str, value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"The secret at {path!r} must be a string.")
    return fernet.encrypt(value.encode()).decode("ascii")


def _decrypt(fernet: MultiFernet, path: str, token: Any) -> str:
    return _open(fernet.decrypt, path, token).decode()


def _rotate(fernet: MultiFernet, path: str, token: Any) -> str:
    return _open(fernet.rotate, path, token).decode("ascii")


def _open(step: Callable[[bytes], bytes], path: str, token: Any) -> bytes:
    # Decrypting and re-encrypting both need a configured key to open the token.
    try:
        return step(str(token).encode())
    except InvalidToken:
        raise SecretDecryptionError(
            f"The secret at {path!r} cannot be decrypted with the configured keys."
        ) from None


def _get(config: Mapping[str, Any], path: str) -> Any:
    node: Any = config
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _set(config: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    node = config
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            # The parent object was omitted or replaced by a non-object: the
            # secret has nowhere to live, so it is not brought back.
            return
        node = child
    node[leaf] = value


def _delete(config: dict[str, Any], path: str) -> None:
    *parents, leaf = path.split(".")
    node: Any = config
    for part in parents:
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node.pop(leaf, None)


def _fernet() -> MultiFernet:
    fallbacks = current_app.config.get("SECRET_KEY_FALLBACKS") or []
    if isinstance(fallbacks, str | bytes):
        fallbacks = [fallbacks]
    key = current_app.config.get("SECRET_KEY")
    if not key:  # a CLI command run without it (pilar.config)
        raise ConfigurationError("PILAR_SECRET_KEY must be set to use stored secrets.")
    return _multi_fernet(key, *fallbacks)


@functools.lru_cache(maxsize=8)
def _multi_fernet(*secret_keys: str | bytes) -> MultiFernet:
    # The first key encrypts; MultiFernet tries each in turn to decrypt.
    return MultiFernet([Fernet(_derive_key(key)) for key in secret_keys])


def _derive_key(secret_key: str | bytes) -> bytes:
    material = secret_key.encode() if isinstance(secret_key, str) else secret_key
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=_HKDF_SALT, info=_HKDF_INFO
    ).derive(material)
    return base64.urlsafe_b64encode(derived)
