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
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import re
import tarfile
import uuid
from collections.abc import Iterator
from typing import IO
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
CHUNK_SIZE = 256 * 1024
# A manifest lists tables and numbers: far below this, whatever the rows.
_MAX_MANIFEST_SIZE = 16 * 1024 * 1024
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
    id: uuid.UUID
    name: str
    domain: str
    schema_name: str
    node: str


@dataclasses.dataclass(frozen=True)
class Manifest:
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


class MemberStream:
    """One member's bytes as read from the archive, checked as they pass.

    ``chunks`` yields them and raises ``ArchiveError`` at the end if their
    size or SHA-256 differs from the manifest's: a caller that loads them
    as they come fails before it commits.
    """

    def __init__(self, member: Member, source: IO[bytes]) -> None:
        self.member = member
        self._source = source

    def chunks(self) -> Iterator[bytes]:
        digest = hashlib.sha256()
        size = 0
        while chunk := _read(self._source, CHUNK_SIZE):
            digest.update(chunk)
            size += len(chunk)
            yield chunk
        if size != self.member.size or digest.hexdigest() != self.member.sha256:
            raise ArchiveError(
                f"The archive is damaged: {self.member.name} does not match "
                "its checksum."
            )


class ArchiveReader:
    """An archive read front to back: the manifest, then each member in its order.

    It reads from ``file`` without closing it: the caller does.
    """

    def __init__(self, file: IO[bytes]) -> None:
        try:
            # Read over several calls, and closing it would not close ``file``.
            self._tar = tarfile.open(fileobj=file, mode="r|*")  # noqa: SIM115
        except (tarfile.TarError, OSError, EOFError):
            raise ArchiveError("The file is not a tar archive.") from None
        info = self._next()
        if info is None or info.name != MANIFEST_NAME:
            raise ArchiveError(f"The archive does not begin with {MANIFEST_NAME}.")
        if info.size > _MAX_MANIFEST_SIZE:
            raise ArchiveError("The archive's manifest is too large.")
        self.manifest = parse_manifest(_read(self._extract(info), info.size))

    def members(self) -> Iterator[MemberStream]:
        """Yield each member in the manifest's order, then check nothing follows.

        Each must be read to its end before the next is asked for.
        """
        for member in self.manifest.members:
            info = self._next()
            if info is None:
                raise ArchiveError(f"The archive ends before {member.name}.")
            if info.name != member.name:
                raise ArchiveError(
                    f"The archive holds {info.name!r} where the manifest says "
                    f"{member.name!r}."
                )
            yield MemberStream(member, self._extract(info))
        extra = self._next()
        if extra is not None:
            raise ArchiveError(
                f"The archive holds {extra.name!r}, not in its manifest."
            )

    def _next(self) -> tarfile.TarInfo | None:
        try:
            return self._tar.next()
        except (tarfile.TarError, OSError, EOFError):
            raise ArchiveError("The archive is damaged: it cannot be read.") from None

    def _extract(self, info: tarfile.TarInfo) -> IO[bytes]:
        if not info.isfile():
            raise ArchiveError(f"The archive's {info.name!r} is not a file.")
        source = self._tar.extractfile(info)
        if source is None:
            raise ArchiveError(f"The archive's {info.name!r} cannot be read.")
        return source


def _read(source: IO[bytes], size: int) -> bytes:
    try:
        return source.read(size)
    except (tarfile.TarError, OSError, EOFError):
        raise ArchiveError("The archive is damaged: it cannot be read.") from None
