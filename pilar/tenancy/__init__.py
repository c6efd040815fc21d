"""Tenancy: which tenant a request or a block of code works in, and its db schema.

Public surface: ``init_app``, ``current_tenant``, ``tenant_scope``,
``directory``, ``allow_any_host``, ``is_platform_request``,
``bind_platform_request``, ``node_statuses``. Which node a tenant is on is
known here only; sessions bound here send its tables there.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any
from typing import TypeVar

import sqlalchemy as sa
from flask import Flask
from flask import current_app
from flask import g
from flask import request

from pilar.db.extensions import db
from pilar.errors import ConfigurationError
from pilar.errors import TenantNotBoundError
from pilar.errors import TenantNotFoundError
from pilar.models import Tenant
from pilar.tenancy import follow
from pilar.tenancy import nodes as node_engines
from pilar.tenancy import scope
from pilar.tenancy.names import normalize_host
from pilar.tenancy.resolve import COLUMNS
from pilar.tenancy.resolve import TenantDirectory
from pilar.tenancy.resolve import TenantRef

_DIRECTORY_KEY = "pilar.tenant_directory"
_NODES_KEY = "pilar.nodes"
_ANY_HOST_KEY = "pilar.any_host_blueprints"
_ResultT = TypeVar("_ResultT")
# Methods that only read: they run without a transaction, and every role may
# use them where only writes are restricted.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

__all__ = [
    "READ_METHODS",
    "NodeStatus",
    "TenantRef",
    "allow_any_host",
    "bind_platform_request",
    "current_tenant",
    "directory",
    "follow_moves",
    "get_nodes",
    "init_app",
    "is_bound_tenant_gone",
    "is_platform_request",
    "node_statuses",
    "tenant_engine",
    "tenant_scope",
]


def init_app(app: Flask) -> None:
    """Route every request to its tenant and bind its db schema."""
    with app.app_context():
        engine = db.engine
    scope.install(engine)
    config = app.config
    try:
        node_config = node_engines.parse(
            config["SQLALCHEMY_DATABASE_URI"],
            config["NODES"] or "",
            config["PLACEMENT_NODES"],
        )
    except ValueError as error:
        raise ConfigurationError(str(error)) from None
    app.extensions[_NODES_KEY] = node_engines.Nodes(
        node_config,
        engine,
        node_engines.engine_options(config),
        ping_idle=config["DB_POOL_PING_IDLE"],
        retry_seconds=config["NODE_RETRY_SECONDS"],
    )
    app.extensions[_DIRECTORY_KEY] = TenantDirectory(
        engine, ttl=app.config["TENANT_CACHE_TTL"]
    )
    app.extensions[_ANY_HOST_KEY] = set()
    app.before_request(_route_request)
    _install_follower(app)


def allow_any_host(app: Flask, *blueprint_names: str) -> None:
    """Serve these blueprints on every host, with no tenant (health, OpenAPI)."""
    app.extensions[_ANY_HOST_KEY].update(blueprint_names)


def get_nodes() -> node_engines.Nodes:
    """Return the current app's nodes (one engine per node, made when needed)."""
    registry: node_engines.Nodes = current_app.extensions[_NODES_KEY]
    return registry


@dataclasses.dataclass(frozen=True)
class NodeStatus:
    """A node as operators see it: never its URL, which may hold a password."""

    name: str
    tenants: int
    reachable: bool
    placement: bool


def node_statuses() -> list[NodeStatus]:
    """Return every configured node, sorted by name, with its tenant count.

    Nodes are tried at once, so one that is gone costs its connect timeout
    once, not once per node.
    """
    registry = get_nodes()
    counts = dict(
        db.session.execute(
            sa.select(Tenant.node, sa.func.count()).group_by(Tenant.node)
        ).all()
    )
    with ThreadPoolExecutor(max_workers=len(registry.names)) as pool:
        reachable = dict(
            zip(
                registry.names,
                pool.map(registry.is_reachable, registry.names),
                strict=True,
            )
        )
    return [
        NodeStatus(
            name,
            counts.get(name, 0),
            reachable[name],
            name in registry.config.placement,
        )
        for name in registry.names
    ]


def tenant_engine(tenant: TenantRef) -> sa.Engine:
    """Return the engine of the node that holds ``tenant``."""
    return get_nodes().engine(tenant.node)


def directory() -> TenantDirectory:
    """Return the current app's tenant directory (domain → tenant, cached)."""
    tenants: TenantDirectory = current_app.extensions[_DIRECTORY_KEY]
    return tenants


def is_platform_request() -> bool:
    """Tell whether the current request came in on a platform host."""
    return bool(g.get("is_platform", False))


def is_bound_tenant_gone() -> bool:
    """Tell whether the request's tenant was deleted after it was routed.

    Another process may drop a tenant that this one still has in its
    directory; its next query then finds no db schema. The domain is looked
    up afresh, so the answer is exact.
    """
    tenant: TenantRef | None = g.get("tenant")
    if tenant is None:
        return False
    directory().invalidate(tenant.domain)
    found = directory().find(tenant.domain)
    return found is None or found.id != tenant.id


def current_tenant() -> TenantRef:
    """Return the tenant bound to this request or ``tenant_scope``.

    Raises ``TenantNotBoundError`` where none is bound.
    """
    tenant: TenantRef | None = g.get("tenant")
    if tenant is None:
        raise TenantNotBoundError("No tenant is bound here.")
    return tenant


@contextmanager
def tenant_scope(domain: str) -> Iterator[TenantRef]:
    """Work inside one tenant's db schema: ``with tenant_scope("berlin.example.com"):``.

    Pushes a fresh application context, so ``db.session`` inside the block is
    a new session bound to the tenant (and removed at the end); suspended
    tenants are allowed, unknown ones raise ``TenantNotFoundError``.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]  # werkzeug proxy
    tenant = directory().find(normalize_host(domain))
    if tenant is None:
        raise TenantNotFoundError(f"Tenant {domain!r} does not exist.")
    with app.app_context():
        g.tenant = tenant
        scope.bind_session(db.session(), tenant.schema_name, tenant_engine(tenant))
        yield tenant


def bind_platform_request(tenant_id: uuid.UUID) -> TenantRef:
    """Bind this platform-host request's session to the tenant with ``tenant_id``.

    For platform views that name a tenant in their URL (the data browser).
    Suspended tenants are allowed. Raises ``TenantNotFoundError`` for an
    unknown id and ``RuntimeError`` on a tenant host or when the session is
    bound to another tenant already (one tenant per session).
    """
    if not is_platform_request():
        raise RuntimeError("Only a platform-host request may choose its tenant.")
    row = db.session.execute(
        sa.select(*COLUMNS).where(Tenant.id == tenant_id)
    ).one_or_none()
    if row is None:
        raise TenantNotFoundError(f"Tenant {str(tenant_id)!r} does not exist.")
    tenant = TenantRef(*row)
    scope.bind_session(db.session(), tenant.schema_name, tenant_engine(tenant))
    g.tenant = tenant
    return tenant


def follow_moves(work: Callable[[], _ResultT]) -> _ResultT:
    """Run ``work`` in the bound tenant, again on its new node if it moves meanwhile.

    ``work`` must be safe to run again after its transaction was rolled back.
    Raises ``TenantMovingError`` when the switch outlasts ``MOVE_WAIT_SECONDS``.
    """
    return follow.call(work, _rebind)


def _rebind(tenant: TenantRef) -> None:
    directory().invalidate(tenant.domain)
    scope.move_session(db.session(), tenant_engine(tenant))
    g.tenant = tenant


def _install_follower(app: Flask) -> None:
    # Every view runs through follow_moves: a request that meets its tenant's
    # db schema gone from the node it was routed to runs again on the node
    # the tenant moved to. Flask calls the instance's dispatch_request.
    dispatch = app.dispatch_request

    def dispatch_following_moves() -> Any:  # Any: a view's return value
        return follow_moves(dispatch)

    app.dispatch_request = dispatch_following_moves  # type: ignore[method-assign]  # one hook, no subclass of Flask


def _route_request() -> None:
    host = normalize_host(request.host)
    if host in current_app.config["PLATFORM_HOSTS"]:
        g.is_platform = True
        return
    if request.blueprint in current_app.extensions[_ANY_HOST_KEY]:
        return
    tenant = directory().get_active(host)
    g.tenant = tenant
    session = db.session()
    scope.bind_session(session, tenant.schema_name, tenant_engine(tenant))
    if request.method in READ_METHODS:
        scope.read_without_transaction(session)
