"""Browser views of the tables in a tenant's db schema, edited through the services."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from markupsafe import Markup
from wtforms import Form

from pilar.admin.browser import BrowserView
from pilar.admin.forms import ConversationForm
from pilar.admin.forms import PhoneNumberForm
from pilar.admin.forms import WhatsAppChannelForm
from pilar.admin.forms import WorkoutPlanForm
from pilar.admin.forms import with_secrets
from pilar.models import Conversation
from pilar.models import PhoneNumber
from pilar.models import WhatsAppChannel
from pilar.models import WorkoutPlan
from pilar.schemas.conversations import ConversationCreateSchema
from pilar.schemas.conversations import ConversationSchema
from pilar.schemas.conversations import ConversationUpdateSchema
from pilar.schemas.phone_numbers import PhoneNumberCreateSchema
from pilar.schemas.phone_numbers import PhoneNumberSchema
from pilar.schemas.phone_numbers import PhoneNumberUpdateSchema
from pilar.schemas.whatsapp_channels import WhatsAppChannelCreateSchema
from pilar.schemas.whatsapp_channels import WhatsAppChannelSchema
from pilar.schemas.whatsapp_channels import WhatsAppChannelUpdateSchema
from pilar.schemas.workout_plans import WorkoutPlanCreateSchema
from pilar.schemas.workout_plans import WorkoutPlanSchema
from pilar.schemas.workout_plans import WorkoutPlanUpdateSchema
from pilar.services import conversations as conversation_service
from pilar.services import phone_numbers as phone_number_service
from pilar.services import whatsapp_channels as whatsapp_channel_service
from pilar.services import workout_plans as workout_plan_service

_PREVIEW_LENGTH = 80


def _without_secrets_set(config: Any) -> Any:
    # The edit form shows the stored config as JSON; which secrets are set is
    # in the detail view, and is not part of what a user types.
    if isinstance(config, dict):
        return {key: value for key, value in config.items() if key != "secrets_set"}
    return config


class PhoneNumbersView(BrowserView):
    form = PhoneNumberForm
    create_schema = PhoneNumberCreateSchema
    update_schema = PhoneNumberUpdateSchema
    response_schema = PhoneNumberSchema
    column_list = ("number", "status", "created_at", "updated_at")
    column_details_list = (
        "id",
        "number",
        "status",
        "sip_credentials",
        "created_at",
        "updated_at",
    )
    column_searchable_list = ("number",)
    column_filters = ("status", "created_at")
    column_sortable_list = ("number", "status", "created_at", "updated_at")
    json_columns = ("sip_credentials",)

    def __init__(self) -> None:
        super().__init__(PhoneNumber, name="Phone numbers", slug="phone-numbers")

    def create_form(self, obj: Any = None) -> Form:
        form = super().create_form(obj)
        del form.status  # new numbers start PENDING, as in the API
        return form

    def initial_data(self, model: Any) -> dict[str, Any]:
        data = self.present(model)
        data["sip_credentials"] = _without_secrets_set(data["sip_credentials"])
        return data

    def payload(self, form: Form, *, creating: bool) -> Mapping[str, Any]:
        credentials = with_secrets(
            form.sip_credentials.data,
            {"password": form.sip_password.data},
            form=form,
        )
        data = {"number": form.number.data, "sip_credentials": credentials}
        if not creating:
            data["status"] = form.status.data
        return data

    def create_record(self, data: dict[str, Any], form: Form) -> Any:
        return phone_number_service.create_phone_number(**data)

    def update_record(self, model: Any, data: dict[str, Any], form: Form) -> Any:
        return phone_number_service.update_phone_number(model.id, data)

    def delete_record(self, model: Any) -> None:
        phone_number_service.delete_phone_number(model.id)


class WhatsAppChannelsView(BrowserView):
    form = WhatsAppChannelForm
    create_schema = WhatsAppChannelCreateSchema
    update_schema = WhatsAppChannelUpdateSchema
    response_schema = WhatsAppChannelSchema
    column_list = ("wa_number", "status", "created_at", "updated_at")
    column_details_list = (
        "id",
        "wa_number",
        "status",
        "wa_cloud_api_config",
        "created_at",
        "updated_at",
    )
    column_searchable_list = ("wa_number",)
    column_filters = ("status", "created_at")
    column_sortable_list = ("wa_number", "status", "created_at", "updated_at")
    json_columns = ("wa_cloud_api_config",)

    def __init__(self) -> None:
        super().__init__(
            WhatsAppChannel, name="WhatsApp channels", slug="whatsapp-channels"
        )

    def create_form(self, obj: Any = None) -> Form:
        form = super().create_form(obj)
        del form.status  # new channels start PENDING, as in the API
        return form

    def initial_data(self, model: Any) -> dict[str, Any]:
        data = self.present(model)
        data["wa_cloud_api_config"] = _without_secrets_set(data["wa_cloud_api_config"])
        return data

    def payload(self, form: Form, *, creating: bool) -> Mapping[str, Any]:
        config = with_secrets(
            form.wa_cloud_api_config.data,
            {"access_token": form.access_token.data},
            form=form,
        )
        data = {"wa_number": form.wa_number.data, "wa_cloud_api_config": config}
        if not creating:
            data["status"] = form.status.data
        return data

    def create_record(self, data: dict[str, Any], form: Form) -> Any:
        return whatsapp_channel_service.create_whatsapp_channel(**data)

    def update_record(self, model: Any, data: dict[str, Any], form: Form) -> Any:
        return whatsapp_channel_service.update_whatsapp_channel(model.id, data)

    def delete_record(self, model: Any) -> None:
        whatsapp_channel_service.delete_whatsapp_channel(model.id)


def _transcript_preview(view: Any, context: Any, model: Any, name: str) -> str:
    turns = model.transcript or []
    if not turns:
        return "(no turns)"
    first = str(turns[0].get("text", ""))
    if len(first) > _PREVIEW_LENGTH:
        first = first[:_PREVIEW_LENGTH] + "…"
    return f"{len(turns)} turns · {first}"


class ConversationsView(BrowserView):
    form = ConversationForm
    create_schema = ConversationCreateSchema
    update_schema = ConversationUpdateSchema
    response_schema = ConversationSchema
    details_template = "admin/pilar/conversation_details.html"
    column_list = ("channel", "transcript", "created_at", "updated_at")
    column_details_list = (
        "id",
        "channel",
        "metadata_",
        "created_at",
        "updated_at",
    )
    column_labels = {"metadata_": "Metadata", "transcript": "Transcript"}  # noqa: RUF012
    column_formatters = {"transcript": _transcript_preview}  # noqa: RUF012
    column_searchable_list = ("transcript", "metadata_")
    column_filters = ("channel", "created_at")
    column_sortable_list = ("channel", "created_at", "updated_at")

    def __init__(self) -> None:
        super().__init__(Conversation, name="Conversations", slug="conversations")

    def json_columns_map(self) -> list[tuple[str, str]]:
        # The transcript is shown as a chat (conversation_details.html).
        return [("metadata_", "metadata")]

    def payload(self, form: Form, *, creating: bool) -> Mapping[str, Any]:
        data: dict[str, Any] = {"channel": form.channel.data}
        for key in ("transcript", "metadata"):
            if form[key].data is not None:
                data[key] = form[key].data
        return data

    def create_record(self, data: dict[str, Any], form: Form) -> Any:
        return conversation_service.create_conversation(**data)

    def update_record(self, model: Any, data: dict[str, Any], form: Form) -> Any:
        return conversation_service.update_conversation(model.id, data)

    def delete_record(self, model: Any) -> None:
        conversation_service.delete_conversation(model.id)


def _plan_summary(view: Any, context: Any, model: Any, name: str) -> Markup:
    text = ", ".join(sorted(str(key) for key in (model.plan or {})))
    return Markup("<code>{}</code>").format(text or "{}")


class WorkoutPlansView(BrowserView):
    form = WorkoutPlanForm
    create_schema = WorkoutPlanCreateSchema
    update_schema = WorkoutPlanUpdateSchema
    response_schema = WorkoutPlanSchema
    column_list = ("user_id", "plan", "created_at", "updated_at")
    column_details_list = ("id", "user_id", "plan", "created_at", "updated_at")
    column_labels = {"user_id": "Member", "plan": "Plan (keys)"}  # noqa: RUF012
    column_formatters = {"plan": _plan_summary}  # noqa: RUF012
    column_searchable_list = ("user_id", "plan")
    column_filters = ("user_id", "created_at")
    column_sortable_list = ("user_id", "created_at", "updated_at")
    json_columns = ("plan",)

    def __init__(self) -> None:
        super().__init__(WorkoutPlan, name="Workout plans", slug="workout-plans")

    def payload(self, form: Form, *, creating: bool) -> Mapping[str, Any]:
        return {"user_id": form.user_id.data, "plan": form.plan.data}

    def create_record(self, data: dict[str, Any], form: Form) -> Any:
        return workout_plan_service.create_workout_plan(**data)

    def update_record(self, model: Any, data: dict[str, Any], form: Form) -> Any:
        return workout_plan_service.update_workout_plan(model.id, data)

    def delete_record(self, model: Any) -> None:
        workout_plan_service.delete_workout_plan(model.id)
