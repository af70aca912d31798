"""The book's table (book/chapters.yml) read into parts, chapters and targets: pt20/book.py."""

from __future__ import annotations

import re
import textwrap

import pytest

import pt20
from pt20 import book as book_model

ROW = ('{{day: {day}, id: "{id}", file: {id}-x, title: "T", title_zh: "题", stars: 1, hours: 1, budget_s: 60, '
       'metric: m, label: "l", label_zh: "标", target: {target}}}')


def table(*parts: tuple[str, list[tuple[str, str]], bool]) -> str:
    """A chapters.yml text: (part file, [(id, target)], optional) per part; days in order."""
    out, day = ["parts:"], 0
    for file, chapters, optional in parts:
        out += [f"  - file: {file}", '    title: "P"', '    title_zh: "部"', f"    optional: {str(optional).lower()}",
                "    chapters:"]
        for chapter_id, target in chapters:
            day += 1
            out.append("      - " + ROW.format(day=day, id=chapter_id, target=target))
    return "\n".join(out) + "\n"


@pytest.mark.parametrize(("value", "target", "ok"), [
    (0.83, 0.80, True), (0.80, 0.80, True), (0.79, 0.80, False),  # a decimal: at least
    (40625, 40625, True), (40625.0, 40625, True), (99999, 40625, False), (40624, 40625, False),  # an integer: exact
    (8.0, 8, True), (9, 8, False),
    (46, "46–96 (Mar 11–Apr 30)", True), (96, "46–96 (Mar 11–Apr 30)", True),  # a range, ends included
    (45.9, "46–96 (Mar 11–Apr 30)", False), (97, "46–96 (Mar 11–Apr 30)", False), (50, "46-96", True),
    (1.0004, "1 ± 0.001", True), (0.9995, "1 ± 0.001", True), (1.01, "1 ± 0.001", False),
    (2.05, "≤ 2.10", True), (2.10, "<= 2.10", True), (2.11, "≤ 2.10", False),  # a maximum (a loss)
    (17, "all asserted", True), (17.0, "all asserted", True),  # a count of the checks that passed
    (0, "all asserted", False), (2.5, "all asserted", False), (-3, "all asserted", False),
    (None, 0.80, False), (None, "all asserted", False),  # a run that broke or reported nothing meets nothing
])
def test_a_value_meets_the_target_as_the_table_states_it(value: float | None, target: object, ok: bool) -> None:
    assert book_model.parse_target(target, "9-9").met_by(value) is ok


@pytest.mark.parametrize("target", ["about 0.9", "0.80", "96–46", "", None, True, float("nan"), [0.8], "≥ 0.8"])
def test_a_target_that_means_nothing_is_an_error_naming_the_chapter(target: object) -> None:
    with pytest.raises(book_model.BookError, match=r"chapter 9-9: .*" + re.escape(repr(target))):
        book_model.parse_target(target, "9-9")


@pytest.mark.parametrize(("target", "zh", "en_words", "zh_words"), [
    (0.8, None, "target ≥ 0.8", "目标 ≥ 0.8"),
    ("≤ 2.10", None, "target ≤ 2.10", "目标 ≤ 2.10"),
    (40625, None, "target exactly 40625", "目标恰为 40625"),
    ("46–96 (Mar 11–Apr 30)", "46–96（3 月 11 日至 4 月 30 日）", "target 46–96, Mar 11–Apr 30",
     "目标 46–96，3 月 11 日至 4 月 30 日"),
    ("all asserted", None, "target: every check passes", "目标：所有检查全部通过"),
])
def test_a_target_describes_itself_in_both_languages(target: object, zh: str | None, en_words: str,
                                                     zh_words: str) -> None:
    parsed = book_model.parse_target(target, "9-9", zh)
    assert parsed.describe("en") == en_words and parsed.describe("zh_CN") == zh_words


def test_values_print_as_counts_or_measurements() -> None:
    exact, minimum = book_model.parse_target(40625, "9-9"), book_model.parse_target(0.9, "9-9")
    assert exact.format(40625.0) == "40625" and minimum.format(1.0) == "1.0000" and minimum.format(0.93) == "0.9300"
    assert book_model.format_value(54273.0) == "54273" and book_model.format_value(0.5) == "0.5000"


def test_the_real_table_parses_and_numbers_its_days() -> None:
    book = book_model.load()
    assert [c.day for c in book.chapters] == list(range(1, len(book.chapters) + 1))
    assert book.days == sum(len(p.chapters) for p in book.parts if not p.optional)
    assert book.chapter("1-2").file == book.chapter("1-2-image-data").file == "1-2-image-data"


def test_optional_parts_add_days_after_the_plan() -> None:
    book = book_model.parse(table(("p1", [("1-1", 0.5), ("1-2", 0.5)], False), ("p7", [("7-1", 0.5)], True)))
    assert book.days == 2 and [c.day for c in book.chapters] == [1, 2, 3]
    with pytest.raises(book_model.BookError, match="optional parts come after"):
        book_model.parse(table(("p7", [("7-1", 0.5)], True), ("p1", [("1-1", 0.5)], False)))


@pytest.mark.parametrize(("text", "message"), [
    (table(("p", [("1-1", 0.5), ("1-2", 0.5)], False)).replace("day: 2", "day: 3"), "days must run 1, 2, 3"),
    (table(("p", [("1-1", 0.5), ("1-1", 0.5)], False)), "appears twice"),
    (table(("p", [("1-1", 0.5)], False)).replace("metric: m, ", ""), r"missing \['metric'\]"),
    (table(("p", [("1-1", 0.5)], False)).replace("metric: m, ", "metrik: m, "), r"unknown \['metrik'\]"),
    (table(("p", [("1-1", 0.5)], False)).replace("file: 1-1-x", "file: x-1-1"), "file starts with it"),
])
def test_a_table_the_book_cannot_use_is_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(book_model.BookError, match=message):
        book_model.parse(text)


def test_check_target_asserts_a_headline_against_the_table() -> None:
    first = book_model.load().chapters[0]
    good = first.target.low if first.target.kind == "minimum" else None
    if good is None:
        pytest.skip("the first chapter's target is not a minimum")
    assert pt20.check_target(first.id, good) == good
    with pytest.raises(AssertionError, match=rf"{first.id}: {first.metric} = .* misses the book's target ≥"):
        pt20.check_target(first.id, good - 0.01)
    with pytest.raises(book_model.BookError, match="no chapter '9-9'"):
        pt20.check_target("9-9", 1.0)


def test_the_package_loads_nothing_heavy_for_the_tools() -> None:
    """tools/execution.py imports pt20.env before the environment is complete: no torch behind it."""
    import subprocess
    import sys

    code = textwrap.dedent("""
        import sys
        import pt20.env, pt20.book
        print(sorted(m for m in ("torch", "numpy", "pandas") if m in sys.modules))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=book_model.PACKAGE_ROOT).stdout
    assert out.strip() == "[]"
