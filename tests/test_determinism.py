"""Two fresh executions of a chapter give identical outputs in every cell nbval checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools import nbcompare, notebooks

pytestmark = pytest.mark.execution  # each test executes chapters
ROOT = Path(__file__).resolve().parents[1]

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
    first, second = checked_outputs(md), checked_outputs(md)
    assert first == second
    assert sum(len(t) > 0 for t in first) > 5, "the chapter prints too little to compare"
