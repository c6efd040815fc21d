"""Every model, imported here so that both MetaData objects are complete."""

from __future__ import annotations

from pilar.models.base import PublicModel
from pilar.models.base import TenantModel
from pilar.models.conversations import Conversation
from pilar.models.enums import Channel
from pilar.models.enums import NumberKind
from pilar.models.enums import PhoneStatus
from pilar.models.enums import Role
from pilar.models.enums import TenantIntegrationType
from pilar.models.enums import TenantStatus
from pilar.models.enums import WhatsAppStatus
from pilar.models.idempotency import IdempotencyKey
from pilar.models.idempotency import PlatformIdempotencyKey
from pilar.models.inbound import InboundEvent
from pilar.models.integrations import TenantIntegration
from pilar.models.login_failures import LoginFailure
from pilar.models.moves import TenantMove
from pilar.models.numbers import ClaimedNumber
from pilar.models.pending_drops import PendingDrop
from pilar.models.phone_numbers import PhoneNumber
from pilar.models.tenants import DEFAULT_NODE
from pilar.models.tenants import MAX_TENANT_NAME_LENGTH
from pilar.models.tenants import Tenant
from pilar.models.users import TenantUser
from pilar.models.whatsapp_channels import WhatsAppChannel
from pilar.models.workout_plans import WorkoutPlan

__all__ = [
    "DEFAULT_NODE",
    "MAX_TENANT_NAME_LENGTH",
    "Channel",
    "ClaimedNumber",
    "Conversation",
    "IdempotencyKey",
    "InboundEvent",
    "LoginFailure",
    "NumberKind",
    "PendingDrop",
    "PhoneNumber",
    "PhoneStatus",
    "PlatformIdempotencyKey",
    "PublicModel",
    "Role",
    "Tenant",
    "TenantIntegration",
    "TenantIntegrationType",
    "TenantModel",
    "TenantMove",
    "TenantStatus",
    "TenantUser",
    "WhatsAppChannel",
    "WhatsAppStatus",
    "WorkoutPlan",
]
