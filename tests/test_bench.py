"""`make bench` is not part of `make test` (no timed tests), but its script must run, and what it writes
must be right. Apart from the first test, chapter runs are faked (no kernel starts): each fake run
writes the report a chapter's self-check would have written."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import types
from collections.abc import Callable
from pathlib import Path

import pytest

from bench import run as bench
from pt20 import book as book_model
from pt20 import env
from tools import pages

ROOT = Path(__file__).resolve().parents[1]



@pytest.mark.execution
def test_bench_runs_one_small_chapter(tmp_path: Path) -> None:
    stem = "2-2-autograd"
    assert bench.main(["--chapters", stem, "--out", str(tmp_path), "--no-totals"]) == 0
    rows = list(csv.DictReader((tmp_path / "results.csv").open()))
    assert [r["chapter"] for r in rows] == [stem]
    assert list(rows[0]) == bench.COLUMNS
    assert float(rows[0]["wall_s"]) > 0 and float(rows[0]["peak_rss_mb"]) > 50  # a kernel with torch loaded
    assert rows[0]["metric_value"], "the chapter reported its metric through pt20.report"
    assert "| chapter |" in (tmp_path / "README.md").read_text()


# ---- bench/run.py on fake chapter runs

THREE = ["2-1-tensors", "2-2-autograd", "2-3-computation-graph"]


class Fake:
    """Chapter runs that take no time: ``outcome[stem](seed_offset)`` gives the metrics the chapter
    reports, or an exception its self-check raises after reporting them."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []
        self.outcome: dict[str, Callable[[int], dict | tuple[dict, Exception]]] = {}

    def run_chapter(self, md: Path, report_dir: Path) -> dict:
        meta = bench.plan()[md.stem]
        offset = int(os.environ.get(env.SEED_OFFSET, "0"))
        self.calls.append((md.stem, offset))
        outcome = self.outcome.get(md.stem, lambda _: {meta.metric: 17.0})(offset)
        metrics, error = outcome if isinstance(outcome, tuple) else (outcome, None)
        (report_dir / f"{meta.id}.json").write_text(json.dumps(metrics))
        if error:
            raise error
        return {"wall_s": 1.5, "peak_rss_mb": 100.0}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Fake:
    runs = Fake()
    monkeypatch.setattr(bench, "run_chapter", runs.run_chapter)
    monkeypatch.setattr(bench, "machine", lambda: "machine A")
    three = {stem: meta for stem, meta in bench.plan().items() if stem in THREE}
    monkeypatch.setattr(bench, "plan", lambda: three)  # a book of three chapters
    return runs


def at(monkeypatch: pytest.MonkeyPatch, when: str) -> None:
    """The bench's clock reads ``when`` (two runs in one test are a day apart)."""
    clock = types.SimpleNamespace(now=lambda: dt.datetime.fromisoformat(when))
    monkeypatch.setattr(bench, "dt", types.SimpleNamespace(datetime=clock))


def results(out: Path) -> dict[str, dict[str, str]]:
    return {r["chapter"]: r for r in csv.DictReader((out / "results.csv").open())}


def test_a_run_of_one_chapter_replaces_its_row_only(tmp_path: Path, fake: Fake,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    at(monkeypatch, "2026-01-01 10:00")
    assert bench.main(["--chapters", *THREE, "--out", str(tmp_path), "--no-totals"]) == 0
    before = results(tmp_path)
    at(monkeypatch, "2026-01-02 11:30")
    monkeypatch.setattr(bench, "machine", lambda: "machine B")
    fake.outcome["2-2-autograd"] = lambda _: {"sgd_x": 1.0002}
    assert bench.main(["--chapters", "2-2", "--out", str(tmp_path), "--no-totals"]) == 0

    after = results(tmp_path)
    assert list(after) == THREE, "the other chapters keep their rows, in the book's order"
    assert after["2-1-tensors"] == before["2-1-tensors"] and after["2-3-computation-graph"] == before[
        "2-3-computation-graph"]
    assert after["2-2-autograd"]["metric_value"] == "1.0002" and after["2-2-autograd"]["run"] == "2026-01-02 11:30"
    readme = (tmp_path / "README.md").read_text()
    assert all(f"| {stem} | 2026-01-0" in readme for stem in THREE)
    assert "Latest run: 2026-01-02 11:30 on machine B" in readme and "1 of 3 chapters (2-2-autograd)" in readme
    assert "earlier runs: 2026-01-01 10:00 on machine A (2 chapters)" in readme
    # the whole-book figures are those of the run that had every chapter, and say so
    assert "## Whole book\n\nMeasured by the run of 2026-01-01 10:00" in readme and "for 3 chapters" in readme
    # and the status page still shows every chapter's metric
    monkeypatch.setattr(pages, "RESULTS", tmp_path / "results.csv")
    status = pages.status(pages.load())
    assert "tensor facts: all 17 passed" in status and "x after 500 SGD steps: 1.0002" in status


def test_a_missing_headline_is_shown_missing_never_another_metric(tmp_path: Path, fake: Fake,
                                                                  capsys: pytest.CaptureFixture) -> None:
    fake.outcome["2-2-autograd"] = lambda _: {"sgd_abs_error": 0.0, "steps": 500}
    assert bench.main(["--chapters", "2-2", "--out", str(tmp_path), "--no-totals"]) == 1
    row = results(tmp_path)["2-2-autograd"]
    assert row["metric_name"] == "sgd_x" and row["metric_value"] == ""
    assert "sgd_x = **missing**" in (tmp_path / "README.md").read_text()
    assert "did not report the headline metric 'sgd_x'" in capsys.readouterr().err


def test_a_seed_whose_self_check_fails_does_not_meet_the_target(tmp_path: Path, fake: Fake) -> None:
    # it reported its count of checks, then an assert failed: the run did not pass "all asserted"
    fake.outcome["2-1-tensors"] = lambda offset: ({"checks_passed": 17}, AssertionError() if offset == 1 else None)
    assert bench.main(["--chapters", "2-1", "--out", str(tmp_path), "--no-totals", "--seeds", "3"]) == 0
    row = results(tmp_path)["2-1-tensors"]
    assert (row["seeds"], row["seeds_meeting_target"]) == ("3", "2")


def test_an_exact_target_is_met_only_by_its_value(tmp_path: Path, fake: Fake) -> None:
    fake.outcome["2-3-computation-graph"] = lambda offset: {"accumulated_x_grad": 8.0 if offset == 0 else 9.0}
    assert bench.main(["--chapters", "2-3", "--out", str(tmp_path), "--no-totals", "--seeds", "2"]) == 0
    assert results(tmp_path)["2-3-computation-graph"]["seeds_meeting_target"] == "1"


def test_a_chapter_named_twice_runs_once(tmp_path: Path, fake: Fake) -> None:
    assert bench.main(["--chapters", "2-2", "2-2", "2-2-autograd", "--out", str(tmp_path), "--no-totals"]) == 0
    assert fake.calls == [("2-2-autograd", 0)]
    assert list(results(tmp_path)) == ["2-2-autograd"]


@pytest.mark.parametrize("seeds", ["-5", "0", "two", "1.5"])
def test_seeds_must_be_a_whole_number_of_at_least_one(seeds: str, tmp_path: Path, fake: Fake,
                                                      capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        bench.main(["--chapters", "2-2", "--out", str(tmp_path), "--seeds", seeds])
    assert "at least 1" in capsys.readouterr().err and not fake.calls


def test_a_target_without_a_meaning_stops_the_bench_before_any_run(tmp_path: Path, fake: Fake,
                                                                   monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture) -> None:
    table = (ROOT / "book" / "chapters.yml").read_text()
    broken = table.replace('metric: sgd_x, label: "x after 500 SGD steps", label_zh: "SGD 迭代 500 步后的 x", '
                           'target: "1 ± 0.001"', 'metric: sgd_x, label: "x", label_zh: "x", target: "close to 1"')
    assert broken != table
    monkeypatch.setattr(bench, "plan", lambda: {c.file: c for c in book_model.parse(broken).chapters})
    with pytest.raises(SystemExit):
        bench.main(["--chapters", "2-1", "2-2", "--out", str(tmp_path), "--no-totals"])
    assert "chapter 2-2" in capsys.readouterr().err and not fake.calls
