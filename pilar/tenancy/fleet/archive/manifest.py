"""The tenant archive's format: a tar of a manifest, then one COPY stream per table.

An archive is a tar file, gzip-compressed when its name ends in ``.gz`` or
``.tgz``. Its members, in this order:

- ``manifest.json``: the format and its version, when the archive was made,
  the tenant (id, name, domain, db schema name, node), the tenant revision
  of its db schema, the numbers its rows hold, and for each other member its
  table, columns, row count, size in bytes and SHA-256;
- ``schema/<table>.copy``: every row of one table of the tenant's db schema,
  parents before the tables whose foreign keys name them;
- ``control/<table>.copy``: the tenant's rows of one control-plane table:
  ``tenants``, ``tenant_users`` (password hashes included) and
  ``tenant_integrations`` (configs as stored: secrets stay encrypted).

Rows are in PostgreSQL's COPY text format, UTF-8, so every value comes back
exactly as it was stored. The members come in the order an import loads
them, so both ends stream: neither holds a table in memory.

This module owns the format: the manifest's data and its JSON, both ways,
with every check a manifest must pass. It touches no file, so the writer
(``spool``) and the reader (``reader``) of the tar share one definition.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import uuid
from typing import Any

from pilar.errors import ArchiveError
from pilar.models import NumberKind

FORMAT = "pilar-tenant-archive"
VERSION = 1
DATA_FORMAT = "copy-text-utf8"
MANIFEST_NAME = "manifest.json"
SCHEMA_SECTION = "schema"
CONTROL_SECTION = "control"
CONTROL_TABLES = ("tenants", "tenant_users", "tenant_integrations")
_MEMBER_NAME_RE = re.compile(r"(schema|control)/([a-z_][a-z0-9_]{0,62})\.copy")
_SHA256_RE = re.compile(r"[0-9a-f]{64}")


@dataclasses.dataclass(frozen=True)
class Member:
    """One table's rows in the archive, as the manifest describes them."""

    section: str
    table: str
    columns: tuple[str, ...]
    rows: int
    size: int
    sha256: str

    @property
    def name(self) -> str:
        return f"{self.section}/{self.table}.copy"


@dataclasses.dataclass(frozen=True, order=True)
class HeldNumber:
    """A number one of the tenant's rows holds, which the control plane claims."""

    kind: NumberKind
    value: str
    owner_id: uuid.UUID


@dataclasses.dataclass(frozen=True)
class ArchivedTenant:
    """The tenant an archive holds, as it was when exported."""

    id: uuid.UUID
    name: str
    domain: str
    schema_name: str
    node: str


@dataclasses.dataclass(frozen=True)
class Manifest:
    """What an archive holds: its tenant, revision, numbers and members."""

    created_at: dt.datetime
    tenant: ArchivedTenant
    revision: str
    numbers: tuple[HeldNumber, ...]
    members: tuple[Member, ...]

    @property
    def rows(self) -> int:
        return sum(member.rows for member in self.members)

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "format": FORMAT,
                "version": VERSION,
                "data_format": DATA_FORMAT,
                "created_at": self.created_at.isoformat(),
                "tenant": {
                    "id": str(self.tenant.id),
                    "name": self.tenant.name,
                    "domain": self.tenant.domain,
                    "schema_name": self.tenant.schema_name,
                    "node": self.tenant.node,
                },
                "revision": self.revision,
                "numbers": [
                    {
                        "kind": n.kind.value,
                        "value": n.value,
                        "owner_id": str(n.owner_id),
                    }
                    for n in self.numbers
                ],
                "members": [
                    {
                        "name": m.name,
                        "table": m.table,
                        "columns": list(m.columns),
                        "rows": m.rows,
                        "size": m.size,
                        "sha256": m.sha256,
                    }
                    for m in self.members
                ],
            },
            indent=2,
        ).encode()


def tenant_key(table: str) -> str:
    """Return the column of the control-plane ``table`` that holds the tenant's id."""
    return "id" if table == "tenants" else "tenant_id"


def parse_manifest(raw: bytes) -> Manifest:
    """Return the manifest in ``raw``; raise ``ArchiveError`` saying what is wrong."""
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise ArchiveError("The archive's manifest is not JSON.") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ArchiveError("The archive is not a PILAR tenant archive.")
    if data.get("version") != VERSION:
        raise ArchiveError(
            f"The archive is of format version {data.get('version')!r}; "
            f"this code reads version {VERSION}."
        )
    try:
        return _manifest(data)
    except (KeyError, TypeError, ValueError) as err:
        raise ArchiveError(f"The archive's manifest is not valid ({err}).") from None


def _manifest(data: dict[str, Any]) -> Manifest:
    if data["data_format"] != DATA_FORMAT:
        raise ValueError(f"data format {data['data_format']!r}")
    tenant = data["tenant"]
    members = tuple(_member(item) for item in data["members"])
    names = [member.name for member in members]
    if len(set(names)) != len(names) or MANIFEST_NAME in names:
        raise ValueError("a member is named twice")
    control = [m.table for m in members if m.section == CONTROL_SECTION]
    if control != list(CONTROL_TABLES):
        raise ValueError(f"control-plane members {control}")
    if members[-len(CONTROL_TABLES) :] != tuple(
        m for m in members if m.section == CONTROL_SECTION
    ):
        raise ValueError("the control-plane members are not last")
    return Manifest(
        created_at=dt.datetime.fromisoformat(_text(data["created_at"])),
        tenant=ArchivedTenant(
            id=uuid.UUID(_text(tenant["id"])),
            name=_text(tenant["name"]),
            domain=_text(tenant["domain"]),
            schema_name=_text(tenant["schema_name"]),
            node=_text(tenant["node"]),
        ),
        revision=_text(data["revision"]),
        numbers=tuple(
            HeldNumber(
                NumberKind(_text(n["kind"])),
                _text(n["value"]),
                uuid.UUID(_text(n["owner_id"])),
            )
            for n in data["numbers"]
        ),
        members=members,
    )


def _member(item: dict[str, Any]) -> Member:
    match = _MEMBER_NAME_RE.fullmatch(_text(item["name"]))
    if match is None or match.group(2) != item["table"]:
        raise ValueError(f"member name {item['name']!r}")
    columns = tuple(_text(column) for column in item["columns"])
    if not columns or not all(0 < len(c) <= 63 for c in columns):
        raise ValueError(f"the columns of {item['name']!r}")
    sha256 = _text(item["sha256"])
    if not _SHA256_RE.fullmatch(sha256):
        raise ValueError(f"the checksum of {item['name']!r}")
    return Member(
        section=match.group(1),
        table=match.group(2),
        columns=columns,
        rows=_count(item["rows"]),
        size=_count(item["size"]),
        sha256=sha256,
    )


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{value!r} is not text")
    return value


def _count(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise TypeError(f"{value!r} is not a count")
    return value
