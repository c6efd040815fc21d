from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from pilar.security.sealed import SecretDecryptionError
from pilar.security.sealed import decrypt_secrets
from pilar.security.sealed import encrypt_secrets
from pilar.security.sealed import merge_secrets
from pilar.security.sealed import redact_secrets
from pilar.security.sealed import reencrypt_secrets
from pilar.security.sealed import secrets_set

KEYS = ("api_key", "account.private_key", "account.key_id")
CONFIG: dict[str, Any] = {
    "tenant": "acme",
    "api_key": "plain-api-key",
    "account": {"email": "a@example.com", "private_key": "plain-private-key"},
}


def _keyring(secret_key: str, *fallbacks: str) -> Flask:
    # pilar.security.sealed only reads the keys from the current app's config.
    app = Flask("keyring")
    app.config.update(SECRET_KEY=secret_key, SECRET_KEY_FALLBACKS=list(fallbacks))
    return app


@pytest.fixture
def keyring() -> Iterator[Flask]:
    app = _keyring("current-key")
    with app.app_context():
        yield app


@pytest.mark.usefixtures("keyring")
def test_encrypt_secrets_replaces_each_secret_with_a_token():
    stored = encrypt_secrets(CONFIG, KEYS)
    assert stored["tenant"] == "acme"
    assert stored["account"]["email"] == "a@example.com"
    assert "plain" not in repr(stored)
    assert stored["api_key"].startswith("gAAAA")  # a Fernet token
    assert "key_id" not in stored["account"]


@pytest.mark.usefixtures("keyring")
def test_encrypt_secrets_leaves_its_argument_alone():
    encrypt_secrets(CONFIG, KEYS)
    assert CONFIG["api_key"] == "plain-api-key"
    assert CONFIG["account"]["private_key"] == "plain-private-key"


@pytest.mark.usefixtures("keyring")
def test_decrypt_secrets_restores_the_config():
    assert decrypt_secrets(encrypt_secrets(CONFIG, KEYS), KEYS) == CONFIG


@pytest.mark.usefixtures("keyring")
def test_each_encryption_differs():
    first = encrypt_secrets(CONFIG, KEYS)["api_key"]
    assert encrypt_secrets(CONFIG, KEYS)["api_key"] != first


@pytest.mark.usefixtures("keyring")
def test_encrypt_secrets_refuses_a_non_string_secret():
    with pytest.raises(TypeError, match="api_key"):
        encrypt_secrets({"api_key": 12345}, KEYS)


def test_secrets_of_a_retired_key_decrypt_while_it_is_a_fallback():
    with _keyring("old-key").app_context():
        stored = encrypt_secrets(CONFIG, KEYS)
    with _keyring("new-key", "old-key").app_context():
        assert decrypt_secrets(stored, KEYS) == CONFIG
    with _keyring("new-key").app_context(), pytest.raises(SecretDecryptionError):
        decrypt_secrets(stored, KEYS)


def test_reencrypt_secrets_moves_them_to_the_current_key():
    with _keyring("old-key").app_context():
        stored = encrypt_secrets(CONFIG, KEYS)
    with _keyring("new-key", "old-key").app_context():
        rotated = reencrypt_secrets(stored, KEYS)
    with _keyring("new-key").app_context():
        assert decrypt_secrets(rotated, KEYS) == CONFIG


def test_decryption_error_does_not_contain_the_token():
    with _keyring("old-key").app_context():
        stored = encrypt_secrets(CONFIG, KEYS)
    with (
        _keyring("other-key").app_context(),
        pytest.raises(SecretDecryptionError) as info,
    ):
        decrypt_secrets(stored, KEYS)
    assert stored["api_key"] not in str(info.value)
    assert "api_key" in str(info.value)


def test_merge_secrets_keeps_the_stored_secrets_that_are_omitted():
    old = {"tenant": "old", "api_key": "T1", "account": {"private_key": "T2"}}
    new = {"tenant": "new", "account": {"email": "b@example.com"}}
    assert merge_secrets(new, old, KEYS) == {
        "tenant": "new",
        "api_key": "T1",
        "account": {"email": "b@example.com", "private_key": "T2"},
    }


def test_merge_secrets_prefers_new_secrets():
    old = {"api_key": "T1"}
    assert merge_secrets({"api_key": "T9"}, old, KEYS) == {"api_key": "T9"}


def test_merge_secrets_removes_a_secret_set_to_none():
    old = {"api_key": "T1", "account": {"key_id": "T3"}}
    new = {"api_key": None, "account": {"key_id": None}}
    assert merge_secrets(new, old, KEYS) == {"account": {}}


def test_merge_secrets_brings_back_no_secret_whose_parent_is_omitted():
    old = {"account": {"private_key": "T2"}}
    assert merge_secrets({"tenant": "x"}, old, KEYS) == {"tenant": "x"}


def test_merge_secrets_copies_no_plain_key_from_old():
    old = {"tenant": "old", "extra": 1}
    assert merge_secrets({}, old, KEYS) == {}


def test_secrets_set_lists_the_paths_that_have_values_sorted():
    config = {"api_key": "T1", "account": {"private_key": "T2", "key_id": None}}
    assert secrets_set(config, KEYS) == ["account.private_key", "api_key"]
    assert secrets_set({}, KEYS) == []


def test_redact_secrets_drops_every_secret_and_nothing_else():
    assert redact_secrets(CONFIG, KEYS) == {
        "tenant": "acme",
        "account": {"email": "a@example.com"},
    }
    assert CONFIG["api_key"] == "plain-api-key"
