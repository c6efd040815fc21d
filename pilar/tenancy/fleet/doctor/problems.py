"""What the doctor finds and what its repairs say, with no database work."""

from __future__ import annotations

import dataclasses
import enum
import uuid

from pilar.models import DEFAULT_NODE
from pilar.models import NumberKind

# Brings a new, empty db schema to the newest revision; returns the revision.


class ProblemKind(enum.Enum):
    NODE_UNREACHABLE = "the node cannot be reached: its tenants were not checked"
    INTERRUPTED_MOVE = "a move to another node that stopped before its switch"
    REPLICATION_LEFTOVER = "a move's replication object that no move is using"
    SCHEMA_WITHOUT_TENANT = "a tenant db schema that no tenant row of its node names"
    PENDING_DROP = "the db schema of a deleted tenant, not dropped from its node yet"
    TENANT_WITHOUT_SCHEMA = "a tenant row whose db schema is not on its node"
    REVISION_MISMATCH = "public.tenants.schema_revision disagrees with the db schema"
    CLAIM_WITHOUT_ROW = "a claimed number that no row of its tenant holds"
    ROW_WITHOUT_CLAIM = "a number that a row holds but that is not claimed for it"


@dataclasses.dataclass(frozen=True)
class NumberRef:
    """A number as a claim or the row holding it names it."""

    kind: NumberKind
    value: str
    tenant_id: uuid.UUID
    owner_id: uuid.UUID


@dataclasses.dataclass(frozen=True)
class Problem:
    kind: ProblemKind
    schema_name: str
    domain: str | None = None
    detail: str = ""
    node: str = DEFAULT_NODE
    number: NumberRef | None = None


@dataclasses.dataclass(frozen=True)
class Repair:
    problem: Problem
    fixed: bool
    note: str
