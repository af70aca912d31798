"""`make new-chapter` (tools/scaffold.py): adding a chapter, and a part, is one command and one row."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pt20 import book as book_model
from tools import scaffold

ROOT = Path(__file__).resolve().parents[1]
COPIED = ["book", "notebooks", "locale", "tools", "tests", "pt20", "_ext", "bench", "conftest.py", "pyproject.toml",
          "_config.yml", "_toc.yml", "README.md"]


@pytest.fixture(scope="module")
def scaffolded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the book with a throw-away chapter 9-1 in a new optional part, added by the command."""
    copy = tmp_path_factory.mktemp("book")
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, copy / name, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, copy / name)
    result = subprocess.run(
        [sys.executable, "-m", "tools.scaffold", "--id", "9-1", "--name", "throw-away", "--title", "A Throw-Away Day",
         "--part-title", "Scaffold test", "--optional"],
        cwd=copy, env={**os.environ, "PYTHONPATH": str(copy)}, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return copy


def run_in(copy: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=copy, env={**os.environ, "PYTHONPATH": str(copy)},
                          capture_output=True, text=True, timeout=600)


@pytest.mark.execution
def test_a_scaffolded_chapter_passes_the_structure_tests(scaffolded: Path) -> None:
    result = run_in(scaffolded, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0",
                    "tests/test_book.py", "tests/test_exemptions.py", "-k", "9-1 or generated or study_plan or toc "
                    "or planned or match_their_sources")
    assert result.returncode == 0, result.stdout[-4000:]
    assert "9-1-throw-away" in result.stdout or " passed" in result.stdout


@pytest.mark.execution
def test_the_new_chapter_is_in_the_toc_the_plan_and_the_catalogs(scaffolded: Path) -> None:
    book = book_model.load(scaffolded)
    chapter = book.chapter("9-1")
    assert chapter.day == len(book.chapters) and book.part(chapter.part).optional
    assert book.days == book_model.load(ROOT).days, "an optional part adds no day to the plan"
    assert f"notebooks/{chapter.file}" in (scaffolded / "_toc.yml").read_text()
    assert f"book/{chapter.part}" in (scaffolded / "_toc.yml").read_text()
    plan = (scaffolded / "book" / "study-plan.md").read_text()
    assert f"| {chapter.day} | [9-1 A Throw-Away Day](../notebooks/9-1-throw-away.ipynb)" in plan
    assert "Part 9 · Scaffold test" in plan
    assert "optional, after the" in (scaffolded / "book" / "9-1-throw-away.md").read_text().splitlines()[14]
    catalogs = scaffolded / "locale" / "zh_CN" / "LC_MESSAGES"
    assert (catalogs / "notebooks" / "9-1-throw-away.po").exists()
    assert (catalogs / "book" / f"{chapter.part}.po").exists()
    from babel.messages.pofile import read_po

    plan_zh = {m.id: m.string for m in read_po((catalogs / "book" / "study-plan.po").open("rb")) if m.id}
    assert any("9-1 A Throw-Away Day" in msgid for msgid in plan_zh), "the study plan's catalog has the new row"
    assert run_in(scaffolded, "-m", "tools.pages", "--check").returncode == 0


@pytest.mark.parametrize(("args", "message"), [
    (("1-9", "x", "X", None), "part 1 is not the last part"),
    (("9-1", "x", "X", None), "part 9 is new: give its title"),
    (("9-1", "Bad Name", "X", "P"), "lower-case words"),
    (("1-1", "x", "X", None), "already in"),
    (("six", "x", "X", None), "write <part>-<number>"),
])
def test_a_chapter_the_scaffold_cannot_add_is_refused_with_what_to_do(args: tuple, message: str) -> None:
    table = (ROOT / book_model.TABLE).read_text()
    with pytest.raises(scaffold.ScaffoldError, match=message):
        scaffold.plan(table, *args, optional=False)


def test_the_new_row_reads_back_as_the_chapter_it_describes() -> None:
    table = (ROOT / book_model.TABLE).read_text()
    text, chapter, part = scaffold.plan(table, "9-1", "x-y", 'A "quoted" title', "New part", optional=True)
    again = book_model.parse(text).chapter("9-1")
    assert again == chapter and again.title == 'A "quoted" title' and part is not None
    assert book_model.parse(text).part(part.file).optional
