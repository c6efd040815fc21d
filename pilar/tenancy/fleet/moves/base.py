"""What every part of a move shares: its modes, its error, how it reports progress."""

from __future__ import annotations

import enum
from collections.abc import Callable

from pilar.errors import NodeUnavailableError
from pilar.errors import PilarError
from pilar.errors import first_line

# Told each step of a move as it happens, one line each.
Progress = Callable[[str], None]


class Mode(enum.StrEnum):
    """How a move copies the tenant (see ``pilar.tenancy.fleet.moves``)."""

    AUTO = "auto"
    LOGICAL = "logical"
    BLOCK_WRITES = "block-writes"


class MoveError(PilarError):
    """A move that could not be made; the tenant is served from its old node."""

    code = "move_failed"


def reason(error: BaseException) -> str:
    """Return what ``error`` says about why a step failed, in one line."""
    if isinstance(error, NodeUnavailableError):
        return f"node {error.node!r} cannot be reached"
    return first_line(error)
