"""The floor of bench/http: the same request served by a bare WSGI function.

No Flask, no ORM, no marshmallow: the Host is looked up in a dict loaded at
start, the same bearer token is checked with itsdangerous (its user loaded
with the same columns, its password stamp compared), the same two statements
run on a per-thread psycopg connection, and the same JSON bytes are returned.
It is the most this stack can do on the machine.
"""

from __future__ import annotations

import hmac
import json
import os
import threading
import uuid
from collections.abc import Callable
from collections.abc import Iterable
from typing import Any

import psycopg
from itsdangerous import BadSignature
from itsdangerous import URLSafeTimedSerializer
from psycopg import sql

from bench.http.pages import CONVERSATIONS
from bench.http.pages import conversation_page
from pilar.services.auth import stamp_of_password_hash

_URL = os.environ["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
_SERIALIZER = URLSafeTimedSerializer(
    os.environ["PILAR_SECRET_KEY"], salt="pilar.access-token"
)
_LOCAL = threading.local()
_LIMIT = 20
# The columns PILAR reads for a token's user (pilar/services/auth.py).
_USER = (
    "SELECT tenant_id, email, password_hash, role, id, created_at, updated_at "
    "FROM public.tenant_users WHERE id = %s AND tenant_id = %s"
)


def _load_tenants() -> dict[str, tuple[uuid.UUID, sql.Composed]]:
    with psycopg.connect(_URL) as conn:
        rows = conn.execute(
            "SELECT domain, id, schema_name FROM public.tenants"
        ).fetchall()
    return {
        domain: (
            tenant_id,
            CONVERSATIONS.format(sql.Identifier(schema_name)),
        )
        for domain, tenant_id, schema_name in rows
    }


_TENANTS = _load_tenants()


def _connection() -> psycopg.Connection[Any]:
    conn = getattr(_LOCAL, "conn", None)
    if conn is None:
        conn = _LOCAL.conn = psycopg.connect(
            _URL, autocommit=True, prepare_threshold=None
        )
    return conn


def _respond(
    start_response: Callable[..., Any], status: str, body: bytes
) -> Iterable[bytes]:
    start_response(
        status,
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
    )
    return [body]


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    host = environ.get("HTTP_HOST", "").split(":")[0].lower()
    if environ.get("PATH_INFO") == "/healthz":
        return _respond(start_response, "200 OK", b'{"status":"ok"}\n')
    tenant = _TENANTS.get(host)
    if tenant is None:
        return _respond(
            start_response, "404 Not Found", b'{"code":"tenant_not_found"}\n'
        )
    tenant_id, list_statement = tenant
    try:
        claims = _SERIALIZER.loads(
            environ.get("HTTP_AUTHORIZATION", "")[7:], max_age=3600
        )
        user_id, stamp = uuid.UUID(claims["u"]), str(claims["p"])
        if uuid.UUID(claims["t"]) != tenant_id:
            raise BadSignature("other tenant")
    except (BadSignature, KeyError, ValueError):
        return _respond(
            start_response, "401 Unauthorized", b'{"code":"unauthenticated"}\n'
        )
    conn = _connection()
    user = conn.execute(_USER, (user_id, tenant_id)).fetchone()
    if user is None or not hmac.compare_digest(stamp, stamp_of_password_hash(user[2])):
        return _respond(
            start_response, "401 Unauthorized", b'{"code":"unauthenticated"}\n'
        )
    rows = conn.execute(list_statement, (_LIMIT + 1,)).fetchall()
    page = conversation_page(rows, _LIMIT)
    body = json.dumps(page, separators=(",", ":"), sort_keys=True).encode() + b"\n"
    return _respond(start_response, "200 OK", body)
