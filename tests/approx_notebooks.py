"""The approximate notebook comparison, for machines where the exact one cannot hold.

`make nbval` runs this file instead of nbval when tools/execution.py says that this machine
cannot reproduce the x86-64 golden record bit for bit (ARM, a processor without AVX2). Each
chapter is executed fresh in the book's execution environment: every cell must run without an
unexpected error (so every self-check and exercise assert holds), and every checked output must
agree with the golden one as tools/nbcompare.py defines it (same text, numbers and figures within
its tolerance; cells tagged ``varies-by-platform`` are compared with their numbers masked). A seed
offset would make every number another run's: the comparison refuses it.

Not collected by the unit-test step (its name does not start with ``test_``).
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from tools import execution, nbcompare, notebooks

ROOT = Path(__file__).resolve().parents[1]

GOLDEN = sorted((ROOT / "notebooks").glob("*.ipynb"))


def fresh_run(golden: nbformat.NotebookNode) -> nbformat.NotebookNode:
    if problem := execution.seed_offset_problem():
        pytest.fail(problem, pytrace=False)
    nb = nbformat.from_dict(golden)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    notebooks.execute(nb, cwd=ROOT / "notebooks")
    return nb


@pytest.mark.parametrize("path", GOLDEN, ids=[p.stem for p in GOLDEN])
def test_chapter_agrees_with_the_golden_record(path: Path) -> None:
    golden = nbformat.read(path, as_version=4)
    count, problems = nbcompare.compare(golden, fresh_run(golden), approx=True)
    assert count > 0
    assert not problems, f"{path.stem}: {len(problems)} of {count} checked cells differ\n" + "\n".join(problems)
