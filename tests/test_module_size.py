"""The house's limit on module length, checked where a reviewer would look for it."""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "pilar"
# A module past this does more than one thing: split it along a seam.
MAX_LINES = 300


def test_no_module_is_longer_than_the_house_limit() -> None:
    lengths = {
        str(module.relative_to(PACKAGE)): len(module.read_text().splitlines())
        for module in PACKAGE.rglob("*.py")
    }
    assert len(lengths) > 100  # the package was found
    assert {m: n for m, n in lengths.items() if n > MAX_LINES} == {}
