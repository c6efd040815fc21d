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
from pilar.models.integrations import TenantIntegration
from pilar.models.login_failures import LoginFailure
from pilar.models.numbers import ClaimedNumber
from pilar.models.phone_numbers import PhoneNumber
from pilar.models.tenants import Tenant
from pilar.models.users import TenantUser
from pilar.models.whatsapp_channels import WhatsAppChannel
from pilar.models.workout_plans import WorkoutPlan

__all__ = [
    "Channel",
    "ClaimedNumber",
    "Conversation",
    "LoginFailure",
    "NumberKind",
    "PhoneNumber",
    "PhoneStatus",
    "PublicModel",
    "Role",
    "Tenant",
    "TenantIntegration",
    "TenantIntegrationType",
    "TenantModel",
    "TenantStatus",
    "TenantUser",
    "WhatsAppChannel",
    "WhatsAppStatus",
    "WorkoutPlan",
]
