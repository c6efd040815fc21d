"""Claims of numbers in the control plane for rows that live on the tenant's node.

``public.claimed_numbers`` makes a phone or WhatsApp number unique across
every tenant of every node; the row that holds the number lives in the
tenant's db schema. Where both are in one database (the node ``default``),
the claim is written in the session's own transaction, so both commit or
neither does. Across two databases there is no shared transaction, so the
steps are ordered for what a crash can leave:

- a claim commits on its own, in the control plane, before the session's
  transaction writes the row; if that transaction does not commit, the claim
  is taken back when it ends;
- a release waits until the session's transaction has committed (the row is
  gone or holds another number), then commits on its own.

A crash in between leaves a claim whose row does not hold it, which
``flask tenants doctor --fix`` deletes once it is older than a grace period;
never a number held twice.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy import orm

from pilar.db.extensions import db
from pilar.models import ClaimedNumber
from pilar.models import NumberKind
from pilar.models import PhoneNumber
from pilar.models import TenantModel
from pilar.models import WhatsAppChannel
from pilar.tenancy.scope import tenant_engine

_PENDING_KEY = "pilar.pending_claims"


class Hold(NamedTuple):
    """A number of ``kind`` held by the row ``owner_id`` of tenant ``tenant_id``."""

    kind: NumberKind
    value: str
    tenant_id: uuid.UUID
    owner_id: uuid.UUID


@dataclasses.dataclass
class _Pending:
    # Claims committed for rows the session has not committed yet.
    claimed: list[Hold] = dataclasses.field(default_factory=list)
    # Claims to release once the session has committed.
    released: list[Hold] = dataclasses.field(default_factory=list)


def claim(session: orm.Session, hold: Hold) -> None:
    """Claim ``hold.value`` for its row.

    Raises ``IntegrityError`` when any tenant holds it (and, in one database,
    ``OperationalError`` for a deadlock); the caller rolls the session back.
    """
    if _in_one_database(session):
        session.add(ClaimedNumber(**hold._asdict()))
        session.flush()
        return
    # Begin the node's transaction first: its end is what takes the claim back.
    session.connection(bind_arguments={"bind": tenant_engine(session)})
    with db.engine.begin() as conn:
        conn.execute(sa.insert(ClaimedNumber).values(**hold._asdict()))
    _crash_point("claim_committed")
    _pending(session).claimed.append(hold)


def release(session: orm.Session, hold: Hold) -> None:
    """Free ``hold.value`` if its row holds it, once the session commits."""
    if _in_one_database(session):
        session.execute(_delete(hold))
        return
    session.connection(bind_arguments={"bind": tenant_engine(session)})
    _pending(session).released.append(hold)


# Every tenant column that holds a claimed number, by model: its kind and its
# field, dotted for a key of a JSON column. The services claim through it and
# doctor and the archive read through it (``number_holders``), so a new
# number column is declared here once.
HELD_NUMBERS: dict[type[TenantModel], tuple[tuple[NumberKind, str], ...]] = {
    PhoneNumber: ((NumberKind.PHONE, "number"),),
    WhatsAppChannel: (
        (NumberKind.WHATSAPP, "wa_number"),
        (NumberKind.WHATSAPP_PHONE_NUMBER_ID, "wa_cloud_api_config.phone_number_id"),
    ),
}


def number_holders(schema_name: str) -> sa.CompoundSelect[str, str, uuid.UUID]:
    """Select (kind, value, owner_id) of every number the rows of ``schema_name`` hold.

    The tables are named with their db schema, quoted by the dialect.
    """
    selects = []
    for model, held in HELD_NUMBERS.items():
        for kind, field in held:
            name, *keys = field.split(".")
            table = sa.table(
                model.__tablename__,
                sa.column("id", sa.Uuid),
                sa.column(name, model.__table__.c[name].type),
                schema=schema_name,
            )
            value: Any = table.c[name]
            for key in keys:
                value = value[key].astext
            selects.append(
                sa.select(
                    sa.literal(kind.value).label("kind"),
                    value.label("value"),
                    table.c.id.label("owner_id"),
                ).where(value.is_not(None))
            )
    return sa.union_all(*selects)


def _in_one_database(session: orm.Session) -> bool:
    engine = tenant_engine(session)
    return engine is None or engine is db.engine


def _pending(session: orm.Session) -> _Pending:
    pending: _Pending = session.info.setdefault(_PENDING_KEY, _Pending())
    return pending


def _delete(hold: Hold) -> sa.Delete:
    return sa.delete(ClaimedNumber).where(
        ClaimedNumber.kind == hold.kind,
        ClaimedNumber.value == hold.value,
        ClaimedNumber.tenant_id == hold.tenant_id,
        ClaimedNumber.owner_id == hold.owner_id,
    )


def _crash_point(name: str) -> None:
    """Do nothing; tests replace it to fail between two databases' commits."""


@event.listens_for(orm.Session, "after_commit")
def _after_commit(session: orm.Session) -> None:
    pending: _Pending | None = session.info.pop(_PENDING_KEY, None)
    if pending is None:
        return
    # The rows are committed: what was claimed for them is theirs now.
    _crash_point("row_committed")
    if pending.released:
        with db.engine.begin() as conn:
            for released in pending.released:
                conn.execute(_delete(released))


@event.listens_for(orm.Session, "after_transaction_end")
def _after_transaction_end(
    session: orm.Session, transaction: orm.SessionTransaction
) -> None:
    if transaction.parent is not None:
        return
    pending: _Pending | None = session.info.pop(_PENDING_KEY, None)
    if pending is None or not pending.claimed:
        return
    # Rolled back or closed without a commit: no row holds these claims.
    with db.engine.begin() as conn:
        for claimed in pending.claimed:
            conn.execute(_delete(claimed))
