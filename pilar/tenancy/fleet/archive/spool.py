"""Writing an archive: members spooled to files beside it, then the tar, manifest first.

The manifest holds each member's size and checksum and goes first, so an
import can check the archive before it loads anything; those are known only
once a member is written, so members are written to temporary files first.
They sit in the archive's own folder, never in memory (nor in a ``/tmp``
that may be memory). The archive appears under its name only once complete.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import IO

from pilar.tenancy.fleet.archive.manifest import MANIFEST_NAME
from pilar.tenancy.fleet.archive.manifest import Manifest
from pilar.tenancy.fleet.archive.manifest import Member

_COMPRESSED_SUFFIXES = (".gz", ".tgz")
# zlib's level 1 compresses these rows some 5:1 at several times the speed of
# its default; the archive's size matters less than the time it takes.
_COMPRESS_LEVEL = 1


@dataclasses.dataclass
class Sink:
    """Where a member's bytes go: its spool file, counted and hashed on the way."""

    file: IO[bytes]
    size: int = 0
    digest: hashlib._Hash = dataclasses.field(default_factory=hashlib.sha256)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.file.write(data)
        self.digest.update(data)
        self.size += len(data)


class ArchiveWriter:
    """Spools members, then writes them after their manifest to ``path``.

    Use as a context manager: on leaving it, the spool files are removed,
    and so is a half-written archive if anything failed.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._folder = Path(tempfile.mkdtemp(prefix=".pilar-export-", dir=path.parent))
        self._members: list[tuple[Member, Path]] = []

    def __enter__(self) -> ArchiveWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        shutil.rmtree(self._folder, ignore_errors=True)

    @contextmanager
    def member(
        self, section: str, table: str, columns: tuple[str, ...]
    ) -> Iterator[_Spooled]:
        """Spool one member; set ``rows`` on what is yielded before the block ends."""
        spool_path = self._folder / f"{len(self._members):04d}.copy"
        with spool_path.open("wb") as file:
            spooled = _Spooled(Sink(file))
            yield spooled
        sink = spooled.sink
        member = Member(
            section, table, columns, spooled.rows, sink.size, sink.digest.hexdigest()
        )
        self._members.append((member, spool_path))

    @property
    def members(self) -> tuple[Member, ...]:
        return tuple(member for member, _ in self._members)

    def write(self, manifest: Manifest) -> int:
        """Write the archive: ``manifest`` and the spooled members; return its size."""
        partial = self._folder / "archive.partial"
        # It holds password hashes and encrypted secrets: its owner's only.
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            if self.path.name.endswith(_COMPRESSED_SUFFIXES):
                with gzip.GzipFile(
                    filename="", mode="wb", fileobj=file, compresslevel=_COMPRESS_LEVEL
                ) as compressed:
                    self._write_tar(compressed, manifest)
            else:
                self._write_tar(file, manifest)
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, self.path)
        return self.path.stat().st_size

    def _write_tar(self, file: IO[bytes] | gzip.GzipFile, manifest: Manifest) -> None:
        raw = manifest.to_json()
        with tarfile.open(fileobj=file, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            tar.addfile(_info(MANIFEST_NAME, len(raw), manifest), io.BytesIO(raw))
            for member, spool_path in self._members:
                with spool_path.open("rb") as source:
                    tar.addfile(_info(member.name, member.size, manifest), source)


@dataclasses.dataclass
class _Spooled:
    sink: Sink
    rows: int = 0


def _info(name: str, size: int, manifest: Manifest) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = int(manifest.created_at.timestamp())
    info.mode = 0o600
    return info
