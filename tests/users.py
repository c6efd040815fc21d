"""Tenant users created straight in the database, for tests of everything else."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Flask

from pilar.db.extensions import db
from pilar.models import Role
from pilar.models import TenantUser
from pilar.security.passwords import hash_password

USER_PASSWORD = "user-password-1"


def make_user(
    app: Flask, tenant: Any, role: Role, email: str | None = None
) -> TenantUser:
    """Insert a user of ``tenant`` (committed); the users API has tests of its own."""
    with app.app_context():
        user = TenantUser(
            tenant_id=tenant.id,
            email=email or f"{role.value.lower()}-{uuid.uuid4().hex[:8]}@example.com",
            password_hash=hash_password(USER_PASSWORD),
            role=role,
        )
        db.session.add(user)
        db.session.commit()
        db.session.refresh(user)
        db.session.expunge(user)
    return user
