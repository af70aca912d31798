"""`make bench`: execute every chapter fresh and record time, memory and quality.

    python -m bench.run                      # all chapters, serial + 2 workers, site render
    python -m bench.run --chapters 2-2 --out /tmp/b --no-totals   # quick run (used by the tests)
    python -m bench.run --seeds 3            # also re-run every chapter with seed offsets 1 and 2

Writes ``<out>/results.csv`` (one row per chapter) and ``<out>/README.md`` (the table and the
totals; with the default ``--out`` that is ``bench/README.md``). A run of some chapters replaces
their rows only: every row says which run it came from, and the whole-book totals are those of the
last run of every chapter. Chapters report their metrics through ``pt20.report`` into
``$PT20_REPORT_DIR``; nothing is scraped from printed text, and a chapter that does not report its
headline metric (book/chapters.yml) shows it as missing and makes the run fail. The benchmark
measures; it never writes the golden record (that is `make golden`).

With ``--seeds N`` every chapter also runs with ``$PT20_SEED_OFFSET`` = 1 .. N-1 (pt20.seed adds
it to every seed a chapter sets), and the table gains the min / mean / max of the headline metric
over the N seeds and how many of them meet the chapter's target (pt20/book.py says what a
target means): a result that holds only for the seed printed on the page is not a result.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import csv
import datetime as dt
import io
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from pt20 import book as book_model
from pt20 import env
from tools import execution, notebooks

ROOT = Path(__file__).resolve().parents[1]

# "run" dates each row: a run of some chapters leaves the other rows as an earlier run wrote them.
COLUMNS = ["chapter", "run", "device", "wall_s", "peak_rss_mb", "metric_name", "metric_value", "target", "original",
           "all_metrics", "seeds", "seeds_min", "seeds_mean", "seeds_max", "seeds_meeting_target", "machine"]
TOTALS = "## Whole book"  # the README section only a run of every chapter measures


def plan() -> dict[str, book_model.Chapter]:
    return {c.file: c for c in book_model.load(ROOT).chapters}


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


def run_chapter(md: Path, report_dir: Path) -> dict:
    """Execute one chapter in a fresh kernel (its notebook is not written); return its timing and memory."""
    os.environ[env.REPORT_DIR] = str(report_dir)
    sampler = PeakRSS()
    wall = notebooks.build(md, save=False, on_kernel_start=sampler.watch)
    sampler.running = False
    return {"wall_s": wall, "peak_rss_mb": sampler.peak / 2**20}


def reported(md: Path, report_dir: Path) -> dict[str, float]:
    report_file = report_dir / f"{plan()[md.stem].id}.json"
    return json.loads(report_file.read_text()) if report_file.exists() else {}


def headline(md: Path, report_dir: Path) -> float | None:
    """The metric book/chapters.yml names for the chapter, or None: never another metric in its place."""
    return reported(md, report_dir).get(plan()[md.stem].metric)


def meets(md: Path, value: float | None) -> bool:
    return plan()[md.stem].target.met_by(value)


def seed_study(chapters: list[Path], seeds: int) -> dict[str, list[float | None]]:
    """Headline metric of each chapter for seed offsets 1 .. seeds-1 (offset 0 is the main run)."""
    values: dict[str, list[float | None]] = {md.stem: [] for md in chapters}
    for offset in range(1, seeds):
        os.environ[env.SEED_OFFSET] = str(offset)
        try:
            with tempfile.TemporaryDirectory() as reports:
                for md in chapters:
                    try:
                        run_chapter(md, Path(reports))
                    except Exception as exc:  # a seed that breaks the self-check is a finding, not a crash
                        print(f"{md.stem} with seed offset {offset}: {type(exc).__name__}", file=sys.stderr)
                        value = None  # whatever it reported before it broke does not count
                    else:
                        value = headline(md, Path(reports))
                    values[md.stem].append(value)
                    print(f"{md.stem:<32} seed offset {offset}: {values[md.stem][-1]}", flush=True)
        finally:
            os.environ.pop(env.SEED_OFFSET, None)
    return values


def row_for(md: Path, timing: dict, report_dir: Path, run: dict, other_seeds: list | None = None) -> dict[str, str]:
    """The chapter's row of results.csv; ``run`` holds the run's date, machine and device."""
    meta = plan()[md.stem]
    metrics = reported(md, report_dir)
    value = headline(md, report_dir)
    row = dict.fromkeys(COLUMNS, "")
    if other_seeds is not None:
        every = [value, *other_seeds]
        found = [v for v in every if v is not None]
        row |= {"seeds": str(len(every)), "seeds_meeting_target": str(sum(meets(md, v) for v in every))}
        if found:
            row |= {"seeds_min": meta.target.format(min(found)), "seeds_max": meta.target.format(max(found)),
                    "seeds_mean": meta.target.format(sum(found) / len(found))}
    return row | {
        "chapter": md.stem, "run": run["date"], "machine": run["machine"], "device": run["device"],
        "wall_s": f"{timing['wall_s']:.1f}", "peak_rss_mb": f"{timing['peak_rss_mb']:.0f}",
        "metric_name": meta.metric, "metric_value": "" if value is None else meta.target.format(value),
        "target": meta.target.text, "original": "" if meta.original is None else str(meta.original),
        "all_metrics": ", ".join(f"{k}={book_model.format_value(v)}" for k, v in sorted(metrics.items())),
    }


def read_results(path: Path) -> list[dict[str, str]]:
    """The rows an earlier run wrote to ``path`` (columns an older bench did not write are empty)."""
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return [{c: row.get(c) or "" for c in COLUMNS} for row in csv.DictReader(f)]


def merge(old: list[dict], new: list[dict]) -> list[dict]:
    """The results after a run: its rows replace those of the same chapters and every other chapter keeps
    its row (a run of one chapter must not erase the rest); book order; a chapter no longer planned is dropped."""
    by_chapter = {r["chapter"]: r for r in [*old, *new]}
    return [by_chapter[stem] for stem in plan() if stem in by_chapter]


def write_atomically(path: Path, text: str) -> None:
    """Write through a temporary file beside ``path``: a killed run leaves the old file whole."""
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp",
                                     newline="", delete=False) as f:
        f.write(text)
    os.replace(f.name, path)


def results_csv(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def run_all(chapters: list[Path], workers: int, report_dir: Path) -> tuple[float, dict[str, dict]]:
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        results = pool.map(lambda md: run_chapter(md, report_dir), chapters)
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
    lines = ["| chapter | run | device | wall (s) | budget (s) | peak RSS (MB) | headline metric | target "
             "| 2020 original | all metrics |", "|---|---|---|---:|---:|---:|---|---:|---:|---|"]
    for r in rows:
        budget = plan()[r["chapter"]].budget_s
        flag = "" if float(r["wall_s"]) <= budget else " ⚠"
        metric = f"{r['metric_name']} = {r['metric_value'] or '**missing** (not reported)'}"
        lines.append(f"| {r['chapter']} | {r['run'] or '?'} | {r['device']} | {r['wall_s']}{flag} | {budget} "
                     f"| {r['peak_rss_mb']} | {metric} | {r['target']} | {r['original']} | {r['all_metrics']} |")
    return "\n".join(lines)


def seeds_table(rows: list[dict]) -> str:
    lines = ["| chapter | run | headline metric | target | min | mean | max | seeds meeting the target |",
             "|---|---|---|---:|---:|---:|---:|---|"]
    for r in rows:
        lines.append(f"| {r['chapter']} | {r['run'] or '?'} | {r['metric_name']} | {r['target']} | {r['seeds_min']} "
                     f"| {r['seeds_mean']} | {r['seeds_max']} | {r['seeds_meeting_target']}/{r['seeds']} |")
    return "\n".join(lines)


def machine() -> str:
    import torch
    import torchvision

    return (f"{execution.cpu_model()}, {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB; "
            f"Python {platform.python_version()}, torch {torch.__version__}, torchvision {torchvision.__version__}")


def runs_line(rows: list[dict], run: dict, ran: list[str]) -> str:
    """Which rows the latest run wrote (the chapters ``ran``), and which earlier runs the others come from."""
    which = "every chapter" if len(ran) == len(plan()) else f"{len(ran)} of {len(plan())} chapters ({', '.join(ran)})"
    text = f"Latest run: {run['date']} on {run['machine']}; device `{run['device']}`; it ran {which}."
    earlier: dict[tuple[str, str], int] = {}
    for r in rows:
        if r["chapter"] not in ran:
            key = (r["run"], r["machine"])
            earlier[key] = earlier.get(key, 0) + 1
    if earlier:
        text += " The other rows come from earlier runs: " + "; ".join(
            f"{date or 'an undated run'}{f' on {where}' if where else ''} ({n} chapter{'s' * (n != 1)})"
            for (date, where), n in sorted(earlier.items(), reverse=True)) + "."
    return text


def totals_section(readme: Path) -> str:
    """The whole-book section of an earlier README (kept when a run does not cover every chapter)."""
    if not readme.exists():
        return ""
    text = readme.read_text()
    start = text.find(f"\n{TOTALS}\n")
    if start < 0:
        return ""
    end = text.find("\n## ", start + 1)
    return text[start + 1:end + 1 if end >= 0 else None].rstrip("\n") + "\n"


def readme(rows: list[dict], run: dict, ran: list[str], whole_book: str) -> str:
    """bench/README.md: the merged table, which run each row came from, the whole-book totals, the seed study."""
    slowest = sorted(rows, key=lambda r: -float(r["wall_s"]))[:3]
    report = (f"# Benchmark results\n\n`make bench` executes every chapter fresh in its own kernel and records wall "
              f"time, the kernel's peak memory and the metrics the chapter reported with `pt20.report`. Each row "
              f"comes from the latest run that included its chapter; the `run` column dates it.\n\n"
              f"{runs_line(rows, run, ran)}\n\n" + table(rows) + "\n\n"
              + "Slowest: " + ", ".join(f"{r['chapter']} ({r['wall_s']} s)" for r in slowest) + "\n")
    if whole_book:
        report += "\n" + whole_book
    studied = [r for r in rows if r["seeds"] and int(r["seeds"]) > 1]
    if studied:
        report += ("\n## Seed robustness\n\nChapters run with several seeds, `PT20_SEED_OFFSET` = 0 (the run on the "
                   "page) to N − 1 (`make bench ARGS=\"--seeds N\"`): the headline metric over the seeds, and how "
                   "many seeds meet the target (pt20/book.py says what a target means).\n\n"
                   + seeds_table(studied) + "\n")
    return report


def positive(text: str) -> int:
    """--seeds: a whole number of seeds, at least the page's own."""
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give a whole number of seeds, at least 1 "
                                         f"(1 runs only the seed on the page, 3 adds offsets 1 and 2)")
    return int(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chapters", nargs="*", help="chapter ids or stems (default: all)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench")
    parser.add_argument("--no-totals", action="store_true", help="skip the parallel run, site render and re-run timing")
    parser.add_argument("--seeds", type=positive, default=1, metavar="N",
                        help="also run every chapter with seed offsets 1 .. N-1 and report the spread")
    args = parser.parse_args(argv)

    try:  # a table the benchmark cannot judge (a target that means nothing) fails now, not after the runs
        planned = plan()
    except book_model.BookError as exc:
        parser.error(str(exc))
    chapters = list(dict.fromkeys(notebooks.chapters(args.chapters)))  # "2-2 2-2" runs 2-2 once
    unplanned = [md.stem for md in chapters if md.stem not in planned]
    if unplanned:
        parser.error(f"{unplanned}: not in book/chapters.yml (add the row, or use `make new-chapter`)")

    import pt20

    run = {"date": f"{dt.datetime.now():%Y-%m-%d %H:%M}", "machine": machine(),
           "device": str(pt20.device.get_device())}
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as reports:
        serial, timings = run_all(chapters, 1, Path(reports))
        others = seed_study(chapters, args.seeds) if args.seeds > 1 else None
        new = [row_for(md, timings[md.stem], Path(reports), run, others[md.stem] if others else None)
               for md in chapters]
        for r in new:
            print(f"{r['chapter']:<32} {r['wall_s']:>6} s  {r['peak_rss_mb']:>5} MB  "
                  f"{r['metric_name']}={r['metric_value'] or 'MISSING'}")
    rows = merge(read_results(args.out / "results.csv"), new)

    if len(chapters) == len(plan()):
        totals = [f"{TOTALS}\n\nMeasured by the run of {run['date']}, which ran every chapter:\n",
                  f"- whole book, serial: {serial:.0f} s ({serial / 60:.1f} min) for {len(chapters)} chapters"]
        if not args.no_totals:
            with tempfile.TemporaryDirectory() as reports:
                parallel, _ = run_all(chapters, 2, Path(reports))
            totals.append(f"- whole book, 2 parallel workers: {parallel:.0f} s ({parallel / 60:.1f} min)")
            render = timed([str(Path(sys.executable).parent / "jupyter-book"), "build", ".", "--builder", "html",
                            "--all"])
            totals.append(f"- site render (`jupyter-book build --all`): {render:.0f} s")
            smallest = min(chapters, key=lambda md: timings[md.stem]["wall_s"])
            totals.append(f"- re-run after editing one chapter ({smallest.stem}): drift check of all chapters + "
                          f"re-executing only that one: {edit_one_chapter_rerun(smallest):.0f} s")
        whole_book = "\n".join(totals) + "\n"
    else:  # the whole-book figures stay those of the last run that had every chapter
        whole_book = totals_section(args.out / "README.md")
    report = readme(rows, run, [md.stem for md in chapters], whole_book)
    write_atomically(args.out / "results.csv", results_csv(rows))
    write_atomically(args.out / "README.md", report)
    if args.out == ROOT / "bench":  # the status page (and its catalog) shows the headline metrics of results.csv
        for command in (["tools.pages"], ["tools.i18n", "pages"]):  # what `make pages` runs
            subprocess.run([sys.executable, "-m", *command], cwd=ROOT, check=True)
    print("\n" + report)
    missing = [r for r in new if not r["metric_value"]]
    for r in missing:
        print(f"{r['chapter']}: its self-check did not report the headline metric {r['metric_name']!r} that "
              f"book/chapters.yml names (it reported: {r['all_metrics'] or 'nothing'}); call "
              f"pt20.report(..., {r['metric_name']}=...) in its last cell", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
