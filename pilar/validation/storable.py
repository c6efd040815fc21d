"""What PostgreSQL can store: the check every schema applies to what it loads.

A text or jsonb column refuses NUL characters; unpaired surrogates (which
JSON escapes such as ``"\\ud800"`` produce) cannot be encoded as UTF-8, for
the database or for a password hash; jsonb has no NaN or infinities. Each
schema checks all it is given before its fields see it (``Schema``'s
``pre_load``), so no field can forget, whether the data comes from the API,
the data browser's forms or the command line.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

MAX_DEPTH = 64

UNSTORABLE_TEXT = "Must not contain NUL characters or unpaired surrogates."
MESSAGES = {
    "text": UNSTORABLE_TEXT,
    "key": "Keys must not contain NUL characters or unpaired surrogates.",
    "number": "Must not be NaN or infinite.",
    "depth": f"Must not be nested deeper than {MAX_DEPTH} levels.",
}

# Where in a document a value lies: keys of objects, indexes of lists.
Path = tuple[str | int, ...]


def is_storable(text: str) -> bool:
    """Tell whether PostgreSQL can store ``text`` in a text or jsonb column."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def find_unstorable(document: Any) -> tuple[Path, str] | None:
    """Return where ``document`` holds what cannot be stored, and what; or None.

    The problem is one of ``MESSAGES``' keys. A bad key is reported at the
    object that holds it (its name is what cannot be shown), and too deep a
    nesting at the top-level member it starts from. The walk is iterative,
    so no nesting can exhaust the stack.
    """
    pending: list[tuple[Any, Path]] = [(document, ())]
    while pending:
        node, path = pending.pop()
        if len(path) > MAX_DEPTH:
            return path[:1], "depth"
        problem = _scalar_problem(node)
        if problem is not None:
            return path, problem
        if isinstance(node, Mapping):
            for key in node:
                if isinstance(key, str) and not is_storable(key):
                    return path, "key"
                pending.append((node[key], (*path, key)))
        elif isinstance(node, Sequence) and not isinstance(node, str | bytes):
            pending.extend((item, (*path, index)) for index, item in enumerate(node))
    return None


def _scalar_problem(node: Any) -> str | None:
    if isinstance(node, str):
        return None if is_storable(node) else "text"
    if isinstance(node, float):
        return None if math.isfinite(node) else "number"
    return None


def error_messages(path: Path, problem: str) -> dict[str | int, Any] | list[str]:
    """Nest the problem's message under ``path``, as marshmallow nests errors."""
    messages: dict[str | int, Any] | list[str] = [MESSAGES[problem]]
    for part in reversed(path):
        messages = {part: messages}
    return messages
