"""`make bench`: execute every chapter fresh and record time, memory and quality.

    python bench/run.py                      # all chapters, serial + 2 workers, site render
    python bench/run.py --chapters 2-2 --out /tmp/b --no-totals   # quick run (used by the tests)
    python bench/run.py --seeds 3            # also re-run every chapter with seed offsets 1 and 2

Writes ``<out>/results.csv`` (one row per chapter) and ``<out>/README.md`` (the table and the
totals; with the default ``--out`` that is ``bench/README.md``). Chapters report their metrics
through ``pt20.report`` into ``$PT20_REPORT_DIR``; nothing is scraped from printed text. The
committed notebooks are not touched unless ``--save`` is given.

With ``--seeds N`` every chapter also runs with ``$PT20_SEED_OFFSET`` = 1 .. N-1 (pt20.seed adds
it to every seed a chapter sets), and the table gains the min / mean / max of the headline metric
over the N seeds and how many of them meet the chapter's target: a result that holds only for
the seed printed on the page is not a result.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import csv
import datetime as dt
import functools
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import execution  # noqa: E402
import notebooks  # noqa: E402

SEED_OFFSET_VAR = "PT20_SEED_OFFSET"  # read by pt20.seed

COLUMNS = ["chapter", "device", "wall_s", "peak_rss_mb", "metric_name", "metric_value", "target", "original",
           "seeds", "seeds_min", "seeds_mean", "seeds_max", "seeds_meeting_target"]
RANGE = re.compile(r"^\s*([-\d.]+)\s*[–-]\s*([-\d.]+)")
PLUS_MINUS = re.compile(r"^\s*([-\d.]+)\s*±\s*([\d.]+)")


@functools.cache
def plan() -> dict[str, dict]:
    parts = yaml.safe_load((ROOT / "book" / "chapters.yml").read_text())["parts"]
    return {c["file"]: c for part in parts for c in part["chapters"]}


class PeakRSS(threading.Thread):
    """Samples the resident memory of a process tree (the kernel) every 50 ms."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.process, self.peak, self.running = None, 0, True

    def watch(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.start()

    def run(self) -> None:
        while self.running:
            try:
                procs = [self.process, *self.process.children(recursive=True)]
                self.peak = max(self.peak, sum(p.memory_info().rss for p in procs))
            except psutil.Error:
                pass
            time.sleep(0.05)


def run_chapter(md: Path, report_dir: Path, save: bool = False) -> dict:
    """Execute one chapter in a fresh kernel; return its timing and memory.

    With ``save`` the executed notebook also becomes the committed golden record (what
    ``make notebooks`` writes), so one quiet serial run can serve both purposes.
    """
    os.environ["PT20_REPORT_DIR"] = str(report_dir)
    sampler = PeakRSS()
    wall = notebooks.build(md, save=save, on_kernel_start=sampler.watch)
    sampler.running = False
    return {"wall_s": wall, "peak_rss_mb": sampler.peak / 2**20}


def reported(md: Path, report_dir: Path) -> dict[str, float]:
    report_file = report_dir / f"{plan()[md.stem]['id']}.json"
    return json.loads(report_file.read_text()) if report_file.exists() else {}


def headline(md: Path, report_dir: Path) -> float | None:
    metrics = reported(md, report_dir)
    return metrics.get(plan()[md.stem]["metric"], min(metrics.values()) if metrics else None)


def meets(value: float | None, target: object) -> bool:
    """Whether a headline value meets its target: a threshold (at least), "a–b" (a range),
    "x ± d", or "all asserted" (the self-check passed, so the chapter reported at all)."""
    if value is None:
        return False
    if isinstance(target, int | float):
        return value >= target
    if m := RANGE.match(str(target)):
        return float(m[1]) <= value <= float(m[2])
    if m := PLUS_MINUS.match(str(target)):
        return abs(value - float(m[1])) <= float(m[2])
    return True


def seed_study(chapters: list[Path], seeds: int) -> dict[str, list[float | None]]:
    """Headline metric of each chapter for seed offsets 1 .. seeds-1 (offset 0 is the main run)."""
    values: dict[str, list[float | None]] = {md.stem: [] for md in chapters}
    for offset in range(1, seeds):
        os.environ[SEED_OFFSET_VAR] = str(offset)
        try:
            with tempfile.TemporaryDirectory() as reports:
                for md in chapters:
                    try:
                        run_chapter(md, Path(reports))
                    except Exception as exc:  # a seed that breaks the self-check is a finding, not a crash
                        print(f"{md.stem} with seed offset {offset}: {type(exc).__name__}", file=sys.stderr)
                    values[md.stem].append(headline(md, Path(reports)))
                    print(f"{md.stem:<32} seed offset {offset}: {values[md.stem][-1]}", flush=True)
        finally:
            os.environ.pop(SEED_OFFSET_VAR, None)
    return values


def row_for(md: Path, timing: dict, report_dir: Path, device: str, other_seeds: list | None = None) -> dict:
    meta = plan()[md.stem]
    metrics = reported(md, report_dir)
    name = meta["metric"]
    value = headline(md, report_dir)
    seeds = {}
    if other_seeds is not None:
        every = [value, *other_seeds]
        found = [v for v in every if v is not None]
        seeds = {"seeds": len(every), "seeds_meeting_target": sum(meets(v, meta["target"]) for v in every),
                 "seeds_min": _fmt(min(found)) if found else "", "seeds_max": _fmt(max(found)) if found else "",
                 "seeds_mean": _fmt(sum(found) / len(found)) if found else ""}
    return {
        "chapter": md.stem, "device": device, "wall_s": f"{timing['wall_s']:.1f}",
        "peak_rss_mb": f"{timing['peak_rss_mb']:.0f}", "metric_name": name,
        "metric_value": "" if value is None else _fmt(value), "target": meta["target"],
        "original": "" if meta["original"] is None else meta["original"],
        "all_metrics": ", ".join(f"{k}={_fmt(v)}" for k, v in sorted(metrics.items())),
        "budget_s": meta["budget_s"], **seeds,
    }


def _fmt(value: float) -> str:
    """Counts print as integers, measurements with four decimals."""
    return str(int(value)) if float(value).is_integer() else f"{value:.4f}"


def run_all(chapters: list[Path], workers: int, report_dir: Path, save: bool = False) -> tuple[float, dict[str, dict]]:
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        results = pool.map(lambda md: run_chapter(md, report_dir, save), chapters)
        timings = dict(zip([md.stem for md in chapters], results))
    return time.perf_counter() - start, timings


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def edit_one_chapter_rerun(chapter: Path) -> float:
    """Time to find which notebooks drifted after an edit, plus re-executing only that one."""
    with tempfile.TemporaryDirectory() as tmp:
        edited = Path(tmp) / chapter.name
        edited.write_text(chapter.read_text().replace("## Summary", "## Summary\n\nAn edit.", 1))
        start = time.perf_counter()
        stale = [md for md in notebooks.chapters() if md != chapter and notebooks.drift(md)]
        stale += [edited] if notebooks.drift(edited) else []
        for md in stale:
            run_chapter(md, Path(tmp))
        return time.perf_counter() - start


def table(rows: list[dict]) -> str:
    lines = ["| chapter | device | wall (s) | budget (s) | peak RSS (MB) | headline metric | target | 2020 original "
             "| all metrics |", "|---|---|---:|---:|---:|---|---:|---:|---|"]
    for r in rows:
        flag = "" if float(r["wall_s"]) <= r["budget_s"] else " ⚠"
        metric = f"{r['metric_name']} = {r['metric_value'] or '(not reported)'}"
        lines.append(f"| {r['chapter']} | {r['device']} | {r['wall_s']}{flag} | {r['budget_s']} | {r['peak_rss_mb']} "
                     f"| {metric} | {r['target']} | {r['original']} | {r['all_metrics']} |")
    return "\n".join(lines)


def seeds_table(rows: list[dict]) -> str:
    lines = ["| chapter | headline metric | target | min | mean | max | seeds meeting the target |",
             "|---|---|---:|---:|---:|---:|---|"]
    for r in rows:
        lines.append(f"| {r['chapter']} | {r['metric_name']} | {r['target']} | {r['seeds_min']} | {r['seeds_mean']} "
                     f"| {r['seeds_max']} | {r['seeds_meeting_target']}/{r['seeds']} |")
    return "\n".join(lines)


def machine() -> str:
    import torch
    import torchvision

    return (f"{execution.cpu_model()}, {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB; "
            f"Python {platform.python_version()}, torch {torch.__version__}, torchvision {torchvision.__version__}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chapters", nargs="*", help="chapter ids or stems (default: all)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench")
    parser.add_argument("--no-totals", action="store_true", help="skip the parallel run, site render and re-run timing")
    parser.add_argument("--save", action="store_true",
                        help="also write the serial run's notebooks as the golden record")
    parser.add_argument("--seeds", type=int, default=1, metavar="N",
                        help="also run every chapter with seed offsets 1 .. N-1 and report the spread")
    args = parser.parse_args(argv)

    import pt20

    device = str(pt20.device.get_device())
    chapters = notebooks.chapters(args.chapters)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as reports:
        serial, timings = run_all(chapters, 1, Path(reports), save=args.save)
        others = seed_study(chapters, args.seeds) if args.seeds > 1 else None
        rows = [row_for(md, timings[md.stem], Path(reports), device, others[md.stem] if others else None)
                for md in chapters]
        for r in rows:
            print(f"{r['chapter']:<32} {r['wall_s']:>6} s  {r['peak_rss_mb']:>5} MB  "
                  f"{r['metric_name']}={r['metric_value']}")
    with open(args.out / "results.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    totals = [f"- whole book, serial: {serial:.0f} s ({serial / 60:.1f} min) for {len(chapters)} chapters"]
    if not args.no_totals:
        with tempfile.TemporaryDirectory() as reports:
            parallel, _ = run_all(chapters, 2, Path(reports))
        totals.append(f"- whole book, 2 parallel workers: {parallel:.0f} s ({parallel / 60:.1f} min)")
        render = timed([str(Path(sys.executable).parent / "jupyter-book"), "build", ".", "--builder", "html", "--all"])
        totals.append(f"- site render (`jupyter-book build --all`): {render:.0f} s")
        smallest = min(chapters, key=lambda md: timings[md.stem]["wall_s"])
        totals.append(f"- re-run after editing one chapter ({smallest.stem}): drift check of all chapters + "
                      f"re-executing only that one: {edit_one_chapter_rerun(smallest):.0f} s")
    slowest = sorted(rows, key=lambda r: -float(r["wall_s"]))[:3]
    totals.append("- slowest: " + ", ".join(f"{r['chapter']} ({r['wall_s']} s)" for r in slowest))
    report = (f"# Benchmark results\n\n`make bench` executes every chapter fresh in its own kernel and records wall "
              f"time, the kernel's peak memory and the metrics the chapter reported with `pt20.report`. "
              f"Latest run: {dt.datetime.now():%Y-%m-%d %H:%M} on {machine()}; device `{device}`.\n\n"
              + table(rows) + "\n\n" + "\n".join(totals) + "\n")
    if args.seeds > 1:
        report += (f"\n## Seed robustness\n\nEvery chapter run {args.seeds} times, with `PT20_SEED_OFFSET` = 0 "
                   f"(the run on the page) to {args.seeds - 1}: the headline metric over the seeds, and how many "
                   f"seeds meet the target.\n\n" + seeds_table(rows) + "\n")
    (args.out / "README.md").write_text(report)
    if args.save:  # the study plan and the status page read the new notebooks and results.csv
        subprocess.run([sys.executable, str(ROOT / "tools" / "pages.py")], check=True)
    print("\n" + report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
