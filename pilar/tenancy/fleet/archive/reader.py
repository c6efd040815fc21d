"""Reading an archive: its tar front to back, every member checked against the manifest.

The manifest comes first and is parsed before anything else is read; each
member must then be the next one the manifest lists, and its bytes are
checked against the manifest's size and SHA-256 as they stream past, so an
import that loads them as they come fails before it commits. Nothing is
extracted to disk and no member is held in memory.
"""

from __future__ import annotations

import hashlib
import tarfile
from collections.abc import Iterator
from typing import IO

from pilar.errors import ArchiveError
from pilar.tenancy.fleet.archive.manifest import MANIFEST_NAME
from pilar.tenancy.fleet.archive.manifest import Member
from pilar.tenancy.fleet.archive.manifest import parse_manifest

CHUNK_SIZE = 256 * 1024
# A manifest lists tables and numbers: far below this, whatever the rows.
_MAX_MANIFEST_SIZE = 16 * 1024 * 1024


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
