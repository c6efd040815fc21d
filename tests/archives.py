"""Tenants with rows in every table, and every row of a tenant, for archive tests."""

from __future__ import annotations

import secrets
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask
from psycopg import sql

from pilar.db.extensions import db
from pilar.models import Channel
from pilar.models import ClaimedNumber
from pilar.models import Conversation
from pilar.models import IdempotencyKey
from pilar.models import InboundEvent
from pilar.models import Role
from pilar.models import Tenant
from pilar.models import TenantIntegration
from pilar.models import TenantIntegrationType
from pilar.models import TenantUser
from pilar.models import WorkoutPlan
from pilar.services import integrations
from pilar.services import phone_numbers
from pilar.services import whatsapp_channels
from pilar.tenancy import get_nodes
from pilar.tenancy import tenant_scope
from tests.users import make_user

SIP_PASSWORD = "sip-password-f00d"
ACCESS_TOKEN = "wa-access-token-f00d"
API_KEY = "magicline-api-key-f00d"
# What COPY's text format escapes, and what JSON numbers may lose.
AWKWARD_TEXT = "tab\there, new\nline, back\\slash, \\N, quote ' \" , ünïcödé 🏋"


def new_phone_number_id() -> str:
    return str(10**14 + secrets.randbelow(10**14))


def fill_tenant(app: Flask, tenant: Any, new_number: Any) -> dict[str, str]:
    """Give ``tenant`` rows in every table; return the numbers it holds."""
    make_user(app, tenant, Role.OWNER)
    make_user(app, tenant, Role.STAFF)
    with app.app_context():
        integrations.put_integration(
            tenant.id,
            TenantIntegrationType.MAGICLINE,
            config={"tenant": "acme", "api_key": API_KEY, "studio_id": 7},
            active=True,
        )
    numbers = {
        "phone": new_number(),
        "wa_number": new_number(),
        "phone_number_id": new_phone_number_id(),
    }
    with app.app_context(), tenant_scope(tenant.domain):
        phone_numbers.create_phone_number(
            number=numbers["phone"],
            sip_credentials={
                "username": "front-desk",
                "password": SIP_PASSWORD,
                "registrar": "sip.example.com",
                "port": 5060,
                "transport": "udp",
            },
        )
        whatsapp_channels.create_whatsapp_channel(
            wa_number=numbers["wa_number"],
            wa_cloud_api_config={
                "phone_number_id": numbers["phone_number_id"],
                "business_account_id": "42",
                "access_token": ACCESS_TOKEN,
                "api_version": "v21.0",
            },
        )
        conversation = Conversation(
            channel=Channel.WHATSAPP,
            transcript=[{"role": "user", "text": AWKWARD_TEXT}],
            metadata_={"exact": 12345678901234567890, "half": 0.5, "none": None},
        )
        db.session.add(conversation)
        db.session.add(Conversation(channel=Channel.VOICE))
        db.session.add(WorkoutPlan(user_id=None, plan={"days": [1, 2]}))
        db.session.add(WorkoutPlan(user_id=AWKWARD_TEXT, plan={}))
        db.session.flush()
        db.session.add(
            InboundEvent(
                source="whatsapp",
                external_id="wamid.1",
                conversation_id=conversation.id,
            )
        )
        db.session.add(
            IdempotencyKey(
                key="key-1", user_id=uuid.uuid4(), fingerprint="f" * 64, status=201
            )
        )
        db.session.commit()
    return numbers


def rows_of(app: Flask, tenant_id: uuid.UUID) -> dict[str, Any]:
    """Every row of the tenant: its control-plane rows, and each table of its schema.

    The tenant row comes as a dict; every other table as its sorted rows, as
    PostgreSQL renders them in text.
    """
    with app.app_context():
        tenant = db.session.execute(
            sa.select(Tenant.__table__).where(Tenant.id == tenant_id)
        ).one()
        rows: dict[str, Any] = {"tenants": dict(tenant._mapping)}
        for model in (TenantUser, TenantIntegration):
            rows[model.__tablename__] = _texts(
                db.session.connection(),
                sql.SQL("SELECT t::text FROM {} t WHERE tenant_id = {}").format(
                    sql.Identifier("public", model.__tablename__),
                    sql.Literal(str(tenant_id)),
                ),
            )
        rows["claimed_numbers"] = sorted(
            db.session.execute(
                sa.select(
                    ClaimedNumber.kind,
                    ClaimedNumber.value,
                    ClaimedNumber.tenant_id,
                    ClaimedNumber.owner_id,
                ).where(ClaimedNumber.tenant_id == tenant_id)
            ).all()
        )
        db.session.rollback()
        with get_nodes().engine(tenant.node).connect() as conn:
            names = conn.scalars(
                sa.text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = :schema_name"
                ),
                {"schema_name": tenant.schema_name},
            ).all()
            for name in names:
                rows[f"schema.{name}"] = _texts(
                    conn,
                    sql.SQL("SELECT t::text FROM {} t").format(
                        sql.Identifier(tenant.schema_name, name)
                    ),
                )
    return rows


def _texts(conn: sa.Connection, query: sql.Composed) -> list[str]:
    driver = conn.connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor:
        return sorted(row[0] for row in cursor.execute(query))


def without_placement(rows: dict[str, Any]) -> dict[str, Any]:
    """``rows`` without what an import may change: domain, schema name, node."""
    tenant = {
        key: value
        for key, value in rows["tenants"].items()
        if key not in ("domain", "schema_name", "node")
    }
    return {**rows, "tenants": tenant}


def tenant_count(app: Flask) -> int:
    with app.app_context():
        count = db.session.scalar(sa.select(sa.func.count()).select_from(Tenant))
        db.session.rollback()
    return int(count or 0)


def archive_path(tmp_path: Path, name: str = "tenant.tar.gz") -> Path:
    return tmp_path / name
