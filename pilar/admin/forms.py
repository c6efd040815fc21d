"""The browser's forms: CSRF-protected, JSON in text areas, secrets write-only.

The forms only carry what was typed; the API's marshmallow schemas validate
it (``load``), so the browser and the API keep one set of rules.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from typing import Any

import marshmallow as ma
from flask_admin.form import SecureForm
from wtforms import BooleanField
from wtforms import Field
from wtforms import Form
from wtforms import PasswordField
from wtforms import SelectField
from wtforms import StringField
from wtforms import TextAreaField
from wtforms.validators import InputRequired

from pilar.models import Channel
from pilar.models import PhoneStatus
from pilar.models import Role
from pilar.models import TenantIntegrationType
from pilar.models import TenantStatus
from pilar.models import WhatsAppStatus
from pilar.models.phone_numbers import SIP_SECRET_KEYS
from pilar.models.whatsapp_channels import WA_CLOUD_API_SECRET_KEYS
from pilar.schemas.integrations import CONFIG_SCHEMAS
from pilar.schemas.integrations import secret_paths

_BLANK_KEEPS = "Write-only: never shown. Leave blank to keep the stored value."


class InvalidFormError(Exception):
    """The submitted form failed validation; its fields carry the messages."""


class JsonField(TextAreaField):
    """A text area holding JSON; blank means None.

    ``secret_keys`` name keys whose values are secrets at any depth: a form
    shown again (refused, say) never holds them, nor text that names one but
    is not JSON, so what was typed in is not sent back in the page.
    """

    def __init__(
        self, *args: Any, secret_keys: frozenset[str] = frozenset(), **kwargs: Any
    ) -> None:
        kwargs.setdefault(
            "render_kw",
            {"rows": 8, "spellcheck": "false", "style": "font-family: monospace"},
        )
        super().__init__(*args, **kwargs)
        self.secret_keys = secret_keys

    def process_formdata(self, valuelist: list[Any]) -> None:
        text = (valuelist[0] if valuelist else "").strip()
        if not text:
            self.data = None
            return
        try:
            self.data = json.loads(text)
        except ValueError as err:
            self.data = None
            raise ValueError(f"Not valid JSON: {err.args[0]}") from None

    def _value(self) -> str:
        if not self.raw_data:
            if self.data is None:
                return ""
            return json.dumps(_without(self.data, self.secret_keys), indent=2)
        text = str(self.raw_data[0])
        if not self.secret_keys:
            return text
        try:
            typed = json.loads(text)
        except ValueError:
            named = any(f'"{key}"' in text for key in self.secret_keys)
            return "" if named else text
        return json.dumps(_without(typed, self.secret_keys), indent=2)


def _without(document: Any, keys: frozenset[str]) -> Any:
    """``document`` without the members named ``keys``, at any depth."""
    if isinstance(document, dict):
        return {k: _without(v, keys) for k, v in document.items() if k not in keys}
    if isinstance(document, list):
        return [_without(item, keys) for item in document]
    return document


def _blank_to_none(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
    return value or None


def _choices(enum_class: type[enum.Enum]) -> list[str]:
    return [member.name for member in enum_class]


def load(schema: ma.Schema, payload: Mapping[str, Any], form: Form) -> dict[str, Any]:
    """Return ``payload`` loaded by ``schema``; put its errors on ``form``.

    Raises ``InvalidFormError`` when the schema refuses it.
    """
    try:
        loaded: dict[str, Any] = schema.load(payload)
    except ma.ValidationError as err:
        messages = err.messages
        if not isinstance(messages, dict):
            messages = {"_schema": messages}
        unplaced = report_errors(form, messages)
        raise InvalidFormError(*unplaced) from None
    return loaded


def report_errors(form: Form, messages: Mapping[str, Any]) -> list[str]:
    """Attach ``messages`` ({field: [...] or {...}}) to the form's fields.

    Returns the messages that name no field of the form.
    """
    unplaced: list[str] = []
    for name, value in messages.items():
        lines = list(_flatten(value))
        field: Field | None = form._fields.get(name)
        if field is None:
            unplaced.extend(f"{name}: {line}" for line in lines)
        else:
            field.errors = [*field.errors, *lines]
    return unplaced


def _flatten(value: Any, prefix: str = "") -> list[str]:
    if isinstance(value, Mapping):
        return [
            line
            for key, nested in value.items()
            for line in _flatten(nested, f"{prefix}{key}: ")
        ]
    if isinstance(value, list | tuple):
        return [line for item in value for line in _flatten(item, prefix)]
    return [f"{prefix}{value}"]


def with_secrets(config: Any, secrets: Mapping[str, str | None], *, form: Form) -> Any:
    """Return ``config`` with each secret typed in set at its dotted path."""
    typed = {path: value for path, value in secrets.items() if value}
    if not typed:
        return config
    if config is None:
        config = {}
    if not isinstance(config, dict):
        return config  # the schema reports that it is not an object
    merged = json.loads(json.dumps(config))
    for path, value in typed.items():
        *parents, leaf = path.split(".")
        node = merged
        for part in parents:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                report_errors(form, {part: ["Must be an object to hold a secret."]})
                raise InvalidFormError
            node = child
        node[leaf] = value
    return merged


class SignInForm(SecureForm):
    email = StringField("Email", validators=[InputRequired()])
    password = PasswordField("Password", validators=[InputRequired()])


class PlatformSignInForm(SecureForm):
    token = PasswordField("Admin token", validators=[InputRequired()])


class SignOutForm(SecureForm):
    pass


class TenantForm(SecureForm):
    name = StringField("Name", validators=[InputRequired()])
    domain = StringField(
        "Domain",
        validators=[InputRequired()],
        description="Requests are routed by it: a change takes effect at once.",
    )
    status = SelectField(
        "Status",
        choices=_choices(TenantStatus),
        description="A SUSPENDED tenant's host answers 403 to every request.",
    )


class UserForm(SecureForm):
    email = StringField("Email", validators=[InputRequired()])
    role = SelectField("Role", choices=_choices(Role), default=Role.STAFF.name)
    password = PasswordField(
        "Password",
        filters=[_blank_to_none],
        description="Write-only: at least 8 characters; on edit, blank keeps it.",
    )


class IntegrationForm(SecureForm):
    type = SelectField("Type", choices=_choices(TenantIntegrationType))
    active = BooleanField("Active", default=True)
    config = JsonField(
        "Config",
        description="A JSON object, without secrets (they go below).",
        secret_keys=frozenset(
            path.rsplit(".", 1)[-1]
            for schema in CONFIG_SCHEMAS.values()
            for path in secret_paths(schema())
        ),
    )
    api_key = PasswordField(
        "api_key", filters=[_blank_to_none], description=_BLANK_KEEPS
    )
    private_key = PasswordField(
        "service_account.private_key",
        filters=[_blank_to_none],
        description=_BLANK_KEEPS,
    )
    private_key_id = PasswordField(
        "service_account.private_key_id",
        filters=[_blank_to_none],
        description=_BLANK_KEEPS,
    )


class PhoneNumberForm(SecureForm):
    number = StringField("Number", description="E.164, e.g. +493012345678.")
    status = SelectField("Status", choices=_choices(PhoneStatus))
    sip_credentials = JsonField(
        "SIP credentials",
        description='JSON: {"username", "registrar", "port", "transport"}; '
        "blank removes them.",
        secret_keys=frozenset(SIP_SECRET_KEYS),
    )
    sip_password = PasswordField(
        "SIP password", filters=[_blank_to_none], description=_BLANK_KEEPS
    )


class WhatsAppChannelForm(SecureForm):
    wa_number = StringField("WhatsApp number", description="E.164.")
    status = SelectField("Status", choices=_choices(WhatsAppStatus))
    wa_cloud_api_config = JsonField(
        "Cloud API config",
        description='JSON: {"phone_number_id", "business_account_id", '
        '"api_version"}; blank removes it.',
        secret_keys=frozenset(WA_CLOUD_API_SECRET_KEYS),
    )
    access_token = PasswordField(
        "Access token", filters=[_blank_to_none], description=_BLANK_KEEPS
    )


class ConversationForm(SecureForm):
    channel = SelectField("Channel", choices=_choices(Channel))
    transcript = JsonField(
        "Transcript", description='JSON list of turns: {"role", "text", "at"?}.'
    )
    metadata = JsonField("Metadata", description="A JSON object.")


class WorkoutPlanForm(SecureForm):
    user_id = StringField(
        "Member (user id)", filters=[_blank_to_none], description="Optional."
    )
    plan = JsonField("Plan", description="A JSON object.")
