"""Every fact once: what the book's table, tools/execution.py, pt20/env.py and the site extension
define is derived elsewhere, or checked against them, never written again by hand."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from _ext import pt20_site
from pt20 import book as book_model
from tools import i18n

ROOT = Path(__file__).resolve().parents[1]
BOOK = book_model.load()

# The execution environment in words: tools/execution.py defines it, tools/pages.py says it.
ENVIRONMENT_WORDS = re.compile(r"two threads|\b\d+ threads\b|AVX2|AVX-?512|\b\d+-core\b(?!-)|two-core|\d+ 核|两个线程",
                               re.I)
# Pages and documents written by hand. Chapters are not listed: their first two lines are checked
# against the table, and where a chapter teaches about threads or instruction sets, that is its subject.
HAND_WRITTEN = ["README.md", "CONTRIBUTING.md", "data/README.md", "book/index.md", "book/_notes/*.md",
                "book/part-*.md", "book/chapters.yml", "_config.yml"]


def hand_written() -> list[Path]:
    return sorted({p for pattern in HAND_WRITTEN for p in ROOT.glob(pattern)})


def test_the_environment_is_not_described_by_hand() -> None:
    found = [f"{p.relative_to(ROOT)}:{n}: {m[0]!r}" for p in hand_written()
             for n, line in enumerate(p.read_text().splitlines(), 1) for m in ENVIRONMENT_WORDS.finditer(line)]
    assert not found, ("the execution environment's numbers belong to tools/execution.py (the status page and the "
                       "breadcrumbs say them): " + "; ".join(found))


def test_the_environment_check_would_catch_a_hand_written_fact() -> None:
    for line in ("runs on a 2-core CPU", "pinned to AVX2", "every pool to two threads", "在 2 核 CPU 上"):
        assert ENVIRONMENT_WORDS.search(line), line


def index_parts() -> list[tuple[str, str]]:
    """(part, days) of each row of the front page's table of parts."""
    text = (ROOT / "book" / "index.md").read_text()
    table = text[text.index("| Part | Days |"):].split("\n\n")[0].splitlines()[2:]
    return [tuple(cell.strip() for cell in row.strip("|").split("|")[:2]) for row in table]


def test_the_front_pages_parts_table_agrees_with_the_book() -> None:
    want = []
    for part in BOOK.parts:
        first, last = part.chapters[0].day, part.chapters[-1].day
        days = f"{first}–{last}" if first != last else f"{first}"
        want.append((part.title.removeprefix("Part "), days + (" (optional)" if part.optional else "")))
    assert index_parts() == want, "book/index.md's table of parts: write what book/chapters.yml says"


def test_the_zip_and_the_editions_are_named_once() -> None:
    index = (ROOT / "book" / "index.md").read_text()
    assert f'href="../{pt20_site.ZIP_NAME}"' in index, "the front page links the zip the site extension writes"
    assert i18n.EDITION_DIR == pt20_site.EDITIONS[i18n.LANG]["dir"].rstrip("/")


def test_the_version_is_written_once() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "version" not in project and "version" in project["dynamic"], "pyproject reads pt20.__version__"


@pytest.mark.parametrize("folder", ["pt20", "tools", "bench", "tests"])
def test_environment_variable_names_live_in_pt20_env(folder: str) -> None:
    literal = re.compile(r"""["']PT20_[A-Z_]+["']""")
    found = [f"{p.relative_to(ROOT)}:{n}" for p in sorted((ROOT / folder).rglob("*.py")) if p.name != "env.py"
             for n, line in enumerate(p.read_text().splitlines(), 1) if literal.search(line)]
    assert not found, f"name the variable through pt20.env: {found}"
