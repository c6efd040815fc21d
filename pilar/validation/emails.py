"""The limits RFC 5321 puts on an email address, for every place that takes one."""

from __future__ import annotations

MAX_LENGTH = 320
MAX_LOCAL_PART_LENGTH = 64


def within_limits(email: str) -> bool:
    """Tell whether ``email`` has at most 320 characters, 64 of them before the @."""
    local_part = email.rpartition("@")[0]
    return len(email) <= MAX_LENGTH and len(local_part) <= MAX_LOCAL_PART_LENGTH
