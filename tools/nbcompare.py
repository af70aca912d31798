"""Compare the checked outputs of two executions of a chapter, exactly or within a tolerance.

    python -m tools.nbcompare GOLDEN.ipynb FRESH.ipynb [--approx]   # or two folders of notebooks

The exact comparison is what nbval does on an x86-64 machine (see tools/execution.py), plus the
figures, which nbval drops (the repository's conftest.py adds them to nbval with
``figure_problems``). The approximate one is for machines that cannot reproduce the golden record
bit for bit (ARM, a processor without AVX2): the text around the numbers must be identical up to
runs of spaces within a line, every number must agree within the tolerance below, and every
figure within an RMS bound (cells tagged ``varies-by-platform``: numbers masked, figures of the
same size).

What counts as a checked output is the same as for nbval: every code cell not tagged
``nbval-ignore-output``; its printed text, every text representation of its results (text/plain,
text/html, MyST-NB's glue records ...), its errors (name and message), and its figures; memory
addresses and temporary paths masked (tests/nbval_sanitize.cfg).
"""

from __future__ import annotations

import base64
import configparser
import io
import json
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

# Tolerance of the approximate comparison, measured: 16 chapters run with PT20_NATIVE_KERNELS=1
# (AVX-512 kernels, an AMD EPYC) against the pinned AVX2 record. Outside cells tagged
# varies-by-platform, 15 chapters printed every digit the same and 1-4 (an LSTM) differed by at most
# 5.1e-7 of a value printed in full float32 precision (a few units of the last bit). So a number
# agrees when it is within RTOL of the golden value (20x that) or within one unit of its last
# printed digit (a value can round the other way), and never with the other sign; integers
# (counts, shapes, asserted values) are exact facts and must be equal.
RTOL = 1e-5
NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
# Figures, as decoded pixels (RGBA, 0-255), by their root mean square difference like matplotlib's
# own compare_images. Re-runs in the pinned environment gave byte-identical PNGs, so the exact
# comparison wants identical pixels. Native kernels moved one training curve (1-4) by RMS 0.007;
# a curve scaled by 1e-5 moves about 0.02, by 1e-3 about 0.8, a recoloured line about 10, a curve
# drawn upside down about 20. So the approximate bound is 0.1.
EXACT_RMS, APPROX_RMS = 0.0, 0.1
IMAGE_KINDS = ("image/png", "image/jpeg")
# Not results: ids of live widgets are random (nbval skips them too).
UNCHECKED_KINDS = ("application/vnd.jupyter.widget-view+json",)


def _sanitizers() -> list[tuple[re.Pattern, str]]:
    parser = configparser.ConfigParser()
    parser.read(SANITIZE)
    return [(re.compile(parser[s]["regex"]), parser[s]["replace"]) for s in parser.sections()]


def cell_text(cell: nbformat.NotebookNode, sanitizers: list[tuple[re.Pattern, str]]) -> str:
    """One string for everything nbval would compare in ``cell`` (figures aside)."""
    parts = []
    for out in cell.get("outputs", []):
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type == "error":
            parts.append(f"<error {out.ename}: {out.evalue}>\n")
        else:  # one block per representation (a print may arrive as several stream messages, so those are joined as is)
            data = out.get("data", {})
            for kind in sorted(data):
                if kind in IMAGE_KINDS:
                    parts.append(f"<{kind}>\n")
                elif kind not in UNCHECKED_KINDS:
                    value = data[kind] if isinstance(data[kind], str) else json.dumps(data[kind], sort_keys=True)
                    parts.append(f"<{kind}>\n{value}\n")
    text = "".join(parts)
    for pattern, replacement in sanitizers:
        text = pattern.sub(replacement, text)
    return text


def figures(outputs: list) -> list[str]:
    """The base64 images among ``outputs``, in order."""
    return [out["data"][kind] for out in outputs for kind in IMAGE_KINDS if kind in out.get("data", {})]


def checked_cells(nb: nbformat.NotebookNode) -> dict[str, nbformat.NotebookNode]:
    """Cell id -> cell, for every cell nbval compares."""
    return {c["id"]: c for c in nb.cells if c.cell_type == "code" and IGNORE_TAG not in c.metadata.get("tags", [])}


def varies(cell: nbformat.NotebookNode) -> bool:
    return VARIES_TAG in cell.metadata.get("tags", [])


def checked_outputs(nb: nbformat.NotebookNode) -> dict[str, tuple[str, bool]]:
    """Cell id -> (checked text, whether the cell varies by platform), for every cell nbval compares."""
    sanitizers = _sanitizers()
    return {cell_id: (cell_text(c, sanitizers), varies(c)) for cell_id, c in checked_cells(nb).items()}


def _last_digit(number: str) -> float:
    """One unit of the last digit a number was printed with: 0.0001 for "0.9265", 1e-10 for "1.5e-08"."""
    mantissa, _, exponent = number.lower().partition("e")
    return 10.0 ** (int(exponent or 0) - len(mantissa.partition(".")[2]))


def numbers_agree(golden: str, fresh: str) -> bool:
    a, b = float(golden), float(fresh)
    if "." not in golden + fresh and "e" not in (golden + fresh).lower():
        return a == b  # integers are exact facts
    if a * b < 0:
        return False  # a sign never flips (a value printed as zero may meet either sign)
    # (1 + 1e-9: 7.0380 - 7.0379 is a hair above 0.0001 in binary)
    return abs(a - b) <= max(RTOL * abs(a), _last_digit(golden), _last_digit(fresh)) * (1 + 1e-9)


def skeleton(text: str) -> list[str]:
    """The text's lines with every number masked and runs of spaces collapsed (tables realign when
    a number gains a minus sign or a digit); line breaks and the spaces between words still count."""
    return [" ".join(NUMBER.sub("#", line).split()) for line in text.split("\n")]


def texts_agree(golden: str, fresh: str, approx: bool, varies: bool = False) -> bool:
    if golden == fresh:
        return True
    if not approx or skeleton(golden) != skeleton(fresh):
        return False
    return varies or all(numbers_agree(g, f) for g, f in zip(NUMBER.findall(golden), NUMBER.findall(fresh)))


def _pixels(image: str):
    import numpy as np
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(base64.b64decode(image))).convert("RGBA"), dtype=float)


def image_rms(golden: str, fresh: str) -> float:
    """Root mean square difference of two base64 images' pixels (inf when their sizes differ)."""
    if golden == fresh:
        return 0.0
    a, b = _pixels(golden), _pixels(fresh)
    return float(((a - b) ** 2).mean() ** 0.5) if a.shape == b.shape else math.inf


def figure_problems(golden: list[str], fresh: list[str], approx: bool = False, masked: bool = False) -> list[str]:
    """How the figures of one cell differ (empty when they agree): as many, each within the RMS
    bound (``masked``, a varying cell in the approximate comparison: of the same size)."""
    if len(golden) != len(fresh):
        return [f"{len(golden)} figure(s) in the golden record, {len(fresh)} in the fresh run"]
    bound = math.inf if masked and approx else APPROX_RMS if approx else EXACT_RMS
    problems = []
    for index, (a, b) in enumerate(zip(golden, fresh)):
        rms = image_rms(a, b)
        if rms > bound:
            what = "a different size" if rms == math.inf else f"pixels differ by RMS {rms:.3f} > {bound}"
            problems.append(f"figure {index + 1}: {what}")
    return problems


def compare(golden: nbformat.NotebookNode, fresh: nbformat.NotebookNode, approx: bool = False) -> tuple[int, list[str]]:
    """(cells compared, one line per differing cell)."""
    want, have = checked_cells(golden), checked_cells(fresh)
    sanitizers = _sanitizers()
    problems = []
    for index, (cell_id, cell) in enumerate(want.items()):
        if cell_id not in have:
            problems.append(f"cell {index} ({cell_id}): missing from the fresh run")
            continue
        text, fresh_text = cell_text(cell, sanitizers), cell_text(have[cell_id], sanitizers)
        if not texts_agree(text, fresh_text, approx, varies(cell)):
            problems.append(f"cell {index} ({cell_id}): {_first_difference(text, fresh_text)}")
        elif found := figure_problems(figures(cell.outputs), figures(have[cell_id].outputs), approx, varies(cell)):
            problems.append(f"cell {index} ({cell_id}): {'; '.join(found)}")
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
