"""Two fresh executions of a chapter give identical outputs in every cell nbval checks."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import nbcompare  # noqa: E402
import notebooks  # noqa: E402

# A small, quick subset keeps `make test` short; nbval compares every chapter with its golden run.
SUBSET = ["2-2-autograd", "3-2-mid-level-api"]


def checked_outputs(md: Path) -> list[str]:
    """What nbval checks in each cell of a fresh execution (tools/nbcompare.py defines it once)."""
    nb = notebooks.from_markdown(md)
    notebooks.execute(nb, cwd=notebooks.NOTEBOOKS)
    return [text for text, _ in nbcompare.checked_outputs(nb).values()]


@pytest.mark.parametrize("stem", SUBSET)
def test_chapter_is_deterministic(stem: str) -> None:
    md = ROOT / "book" / f"{stem}.md"
    if not md.exists():
        pytest.skip(f"{stem} not written yet")
    first, second = checked_outputs(md), checked_outputs(md)
    assert first == second
    assert sum(len(t) > 0 for t in first) > 5, "the chapter prints too little to compare"
