"""Compare the checked outputs of two executions of a chapter, exactly or within a tolerance.

    python tools/nbcompare.py GOLDEN.ipynb FRESH.ipynb [--approx]   # or two folders of notebooks

The exact comparison is what nbval does on an x86-64 machine (see tools/execution.py). The
approximate one is for machines that cannot reproduce the golden record bit for bit (ARM, a
processor without AVX2): the text around the numbers must be identical, and every number must
agree within the tolerance below (cells tagged ``varies-by-platform``: with the numbers masked).

What counts as a checked output is the same as for nbval: every code cell not tagged
``nbval-ignore-output``; its printed text joined, its ``text/plain`` results, and whether it made
a figure; memory addresses and temporary paths masked (tests/nbval_sanitize.cfg).
"""

from __future__ import annotations

import configparser
import math
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
SANITIZE = ROOT / "tests" / "nbval_sanitize.cfg"
IGNORE_TAG = "nbval-ignore-output"
# A cell whose numbers follow a training run (accuracies, losses, counts of mistakes): another
# kernel family changes them beyond any useful tolerance, so the approximate comparison checks its
# text with the numbers masked. The self-check's thresholds still bind those runs.
VARIES_TAG = "varies-by-platform"

# Tolerance of the approximate comparison. A chapter's trained results move by a few units in the
# third digit between kernel families (measured between the AVX-512 and AVX2 records: accuracies
# by up to 0.005, losses by up to 3 % of their value), so a number matches when it is within 5 %
# of the golden value or within 0.02 of it; exact facts (counts, shapes, asserted values) are
# integers and must be equal.
RTOL, ATOL = 0.05, 0.02
NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


def _sanitizers() -> list[tuple[re.Pattern, str]]:
    parser = configparser.ConfigParser()
    parser.read(SANITIZE)
    return [(re.compile(parser[s]["regex"]), parser[s]["replace"]) for s in parser.sections()]


def cell_text(cell: nbformat.NotebookNode, sanitizers: list[tuple[re.Pattern, str]]) -> str:
    """One string for everything nbval would compare in ``cell``."""
    parts = []
    for out in cell.get("outputs", []):
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type == "error":
            parts.append(f"<error {out.ename}>\n")
        else:  # one line per value (a print may arrive as several stream messages, so those are joined as is)
            data = out.get("data", {})
            # text/plain, and the values MyST-NB's glue records (application/papermill.record/text/plain)
            parts.extend(data[kind] + "\n" for kind in sorted(data) if kind.endswith("text/plain"))
            parts.extend(f"<{kind}>\n" for kind in sorted(data) if kind.startswith("image/"))
    text = "".join(parts)
    for pattern, replacement in sanitizers:
        text = pattern.sub(replacement, text)
    return text


def checked_outputs(nb: nbformat.NotebookNode) -> dict[str, tuple[str, bool]]:
    """Cell id -> (checked text, whether the cell varies by platform), for every cell nbval compares."""
    sanitizers = _sanitizers()
    return {c["id"]: (cell_text(c, sanitizers), VARIES_TAG in c.metadata.get("tags", [])) for c in nb.cells
            if c.cell_type == "code" and IGNORE_TAG not in c.metadata.get("tags", [])}


def numbers_agree(golden: str, fresh: str) -> bool:
    a, b = float(golden), float(fresh)
    if "." not in golden + fresh and "e" not in (golden + fresh).lower():
        return a == b  # integers are exact facts
    return math.isclose(a, b, rel_tol=RTOL, abs_tol=ATOL)


def skeleton(text: str) -> str:
    """The text with every number masked and runs of spaces collapsed (tables realign when a
    number gains a minus sign or a digit)."""
    return " ".join(NUMBER.sub("#", text).split())


def texts_agree(golden: str, fresh: str, approx: bool, varies: bool = False) -> bool:
    if golden == fresh:
        return True
    if not approx or skeleton(golden) != skeleton(fresh):
        return False
    return varies or all(numbers_agree(g, f) for g, f in zip(NUMBER.findall(golden), NUMBER.findall(fresh)))


def compare(golden: nbformat.NotebookNode, fresh: nbformat.NotebookNode, approx: bool = False) -> tuple[int, list[str]]:
    """(cells compared, one line per differing cell)."""
    want, have = checked_outputs(golden), checked_outputs(fresh)
    problems = []
    for index, (cell_id, (text, varies)) in enumerate(want.items()):
        if cell_id not in have:
            problems.append(f"cell {index} ({cell_id}): missing from the fresh run")
        elif not texts_agree(text, have[cell_id][0], approx, varies):
            problems.append(f"cell {index} ({cell_id}): {_first_difference(text, have[cell_id][0])}")
    return len(want), problems


def _first_difference(a: str, b: str) -> str:
    for line_a, line_b in zip(a.splitlines() + [""], b.splitlines() + [""]):
        if line_a != line_b:
            return f"{line_a.strip()[:70]!r} -> {line_b.strip()[:70]!r}"
    return "outputs differ"


def main(argv: list[str]) -> int:
    approx = "--approx" in argv
    a, b = (Path(p) for p in argv if not p.startswith("--"))
    pairs = [(a, b)] if a.is_file() else [(p, b / p.name) for p in sorted(a.glob("*.ipynb"))]
    total = equal = 0
    for golden, fresh in pairs:
        if not fresh.exists():
            print(f"{fresh}: missing")
            continue
        n, problems = compare(nbformat.read(golden, 4), nbformat.read(fresh, 4), approx)
        total, equal = total + n, equal + n - len(problems)
        print(f"{golden.stem}: {n - len(problems)}/{n} cells equal")
        for p in problems:
            print("   ", p)
    print(f"{'approximate' if approx else 'exact'}: {equal}/{total} checked cells agree")
    return 0 if equal == total else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
