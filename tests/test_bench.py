"""`make bench` is not part of `make test` (no timed tests), but its script must run."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
import run as bench  # noqa: E402


def test_bench_runs_one_small_chapter(tmp_path: Path) -> None:
    stem = "2-2-autograd"
    if not (ROOT / "book" / f"{stem}.md").exists():
        pytest.skip(f"{stem} not written yet")
    assert bench.main(["--chapters", stem, "--out", str(tmp_path), "--no-totals"]) == 0
    rows = list(csv.DictReader((tmp_path / "results.csv").open()))
    assert [r["chapter"] for r in rows] == [stem]
    assert list(rows[0]) == bench.COLUMNS
    assert float(rows[0]["wall_s"]) > 0 and float(rows[0]["peak_rss_mb"]) > 50  # a kernel with torch loaded
    assert rows[0]["metric_value"], "the chapter reported its metric through pt20.report"
    assert "| chapter |" in (tmp_path / "README.md").read_text()


@pytest.mark.parametrize(("value", "target", "ok"), [
    (0.83, 0.80, True), (0.79, 0.80, False),  # a threshold: at least
    (50, "46–96 (Mar 11–Apr 30)", True), (97, "46–96 (Mar 11–Apr 30)", False),  # a range
    (1.0004, "1 ± 0.001", True), (1.01, "1 ± 0.001", False),
    (17, "all asserted", True),  # the self-check passed, or nothing would have been reported
    (None, 0.80, False),  # a seed whose run broke meets nothing
])
def test_a_seed_meets_the_target_as_the_plan_states_it(value: float | None, target: object, ok: bool) -> None:
    assert bench.meets(value, target) is ok
