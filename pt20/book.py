"""The book's table, ``book/chapters.yml``, read once into parts, chapters and targets.

Everything that needs the shape of the book reads it here: the page generator, the benchmark, the
translations, the tests, the scaffold — and the chapters' own self-checks, which assert their
headline with ``pt20.check_target("1-1", test_acc)`` so that a threshold lives in one place.

A chapter's ``target`` means:

    0.80                     a decimal is a minimum: the headline must be at least 0.80
    "≤ 2.10"                 a maximum (a loss, an error): the headline must be at most 2.10
    40625                    an integer is an exact fact: the headline must equal it
    "46–96 (Mar 11–Apr 30)"  a range, both ends included; a note in parentheses may follow
    "1 ± 0.001"              a value and a tolerance, both ends included; a note may follow
    "all asserted"           the headline counts the checks the self-check asserted: a positive integer

Anything else is a mistake in the table and raises ``BookError`` naming the chapter.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
TABLE = Path("book") / "chapters.yml"
LANGUAGES = ("en", "zh_CN")

_NUMBER = r"-?\d+(?:\.\d+)?"
_NOTE = r"(?:\s*\((?P<note>[^()]*)\))?\s*$"  # "(Mar 11–Apr 30)": words for the reader, no meaning
_RANGE = re.compile(rf"^\s*(?P<low>{_NUMBER})\s*[–-]\s*(?P<high>{_NUMBER}){_NOTE}")
_PLUS_MINUS = re.compile(rf"^\s*(?P<centre>{_NUMBER})\s*±\s*(?P<tol>\d+(?:\.\d+)?){_NOTE}")
_AT_MOST = re.compile(rf"^\s*(?:≤|<=)\s*(?P<high>{_NUMBER}){_NOTE}")
ALL_ASSERTED = "all asserted"
FORMS = ('a decimal minimum (0.80), "≤ x" for a maximum, an exact integer (40625), a range "a–b", "x ± d" '
         'or "all asserted"')

# How a target reads in each language; {target} is the table's own wording of it.
_TARGET_WORDS = {
    "en": {"minimum": "target ≥ {target}", "maximum": "target {target}", "range": "target {target}",
           "tolerance": "target {target}", "exact": "target exactly {target}",
           ALL_ASSERTED: "target: every check passes"},
    "zh_CN": {"minimum": "目标 ≥ {target}", "maximum": "目标 {target}", "range": "目标 {target}",
              "tolerance": "目标 {target}", "exact": "目标恰为 {target}", ALL_ASSERTED: "目标：所有检查全部通过"},
}
_NOTE_WORDS = {"en": "{0}, {1}", "zh_CN": "{0}，{1}"}


class BookError(ValueError):
    """book/chapters.yml says something the book cannot use."""


@dataclass(frozen=True)
class Target:
    kind: str  # "minimum", "maximum", "exact", "range", "tolerance" or "all asserted"
    low: float = -math.inf
    high: float = math.inf
    text: str = ""  # as the table writes it (English)
    text_zh: str = ""  # the Chinese wording, where the English has words

    @property
    def is_fact(self) -> bool:
        """An exact fact or a count of asserted checks: no seed changes it, so a seed study says nothing."""
        return self.kind in ("exact", ALL_ASSERTED)

    def met_by(self, value: float | None) -> bool:
        """Whether a headline value meets the target; None (the run broke or reported nothing) never does."""
        if value is None:
            return False
        if self.kind == ALL_ASSERTED:  # the count of checks that passed in a run that finished
            return float(value).is_integer() and value >= 1
        return self.low <= value <= self.high

    def format(self, value: float) -> str:
        """A headline value as the book prints it: a fact as an integer, a measurement with four decimals
        (an accuracy of exactly 1 is 1.0000, a measurement, not a count)."""
        return format_value(value, count=self.is_fact)

    def describe(self, lang: str = "en") -> str:
        """The target in a reader's words: "target ≥ 0.80", "目标 46–96，3 月 11 日至 4 月 30 日"."""
        wording = self.text_zh if lang != "en" and self.text_zh else self.text
        # a note in parentheses after the target ("46–96 (Mar 11–Apr 30)") follows a comma instead
        shown = re.sub(r"^(.*?)\s*[(（](.*)[)）]\s*$", lambda m: _NOTE_WORDS[lang].format(m[1], m[2]), wording)
        return _TARGET_WORDS[lang][self.kind].format(target=shown)


def format_value(value: float, count: bool | None = None) -> str:
    """A metric as the book prints it: a count as an integer, a measurement with four decimals.
    Without ``count``, a whole number is taken for a count."""
    value = float(value)
    if count is None:
        count = value.is_integer()
    return str(int(value)) if count and value.is_integer() else f"{value:.4f}"


def parse_target(target: object, chapter: str, target_zh: str | None = None) -> Target:
    """The meaning of ``target`` (chapter ``chapter``'s entry in the table)."""
    text, zh = str(target), target_zh or ""
    if isinstance(target, bool):  # YAML reads yes/no/true as booleans, which are ints in Python
        pass
    elif isinstance(target, int):
        return Target("exact", target, target, text, zh)
    elif isinstance(target, float) and math.isfinite(target):
        return Target("minimum", low=target, text=text, text_zh=zh)
    elif isinstance(target, str):
        if target.strip() == ALL_ASSERTED:
            return Target(ALL_ASSERTED, text=text, text_zh=zh)
        if m := _RANGE.match(target):
            low, high = float(m["low"]), float(m["high"])
            if low <= high:
                return Target("range", low, high, text, zh)
        elif m := _PLUS_MINUS.match(target):
            centre, tol = float(m["centre"]), float(m["tol"])
            return Target("tolerance", centre - tol, centre + tol, text, zh)
        elif m := _AT_MOST.match(target):
            return Target("maximum", high=float(m["high"]), text=text, text_zh=zh)
    raise BookError(f"chapter {chapter}: {TABLE} gives the target {target!r}, which means nothing to the book; "
                    f"write {FORMS} (numbers unquoted)")


@dataclass(frozen=True)
class Chapter:
    day: int
    id: str
    file: str  # the stem of book/<file>.md and notebooks/<file>.ipynb
    title: str
    title_zh: str  # "" until translated
    stars: int
    hours: float
    budget_s: int
    metric: str  # the headline metric the self-check reports (pt20.report)
    label: str  # the metric in a reader's words, for the status page
    label_zh: str
    target: Target
    original: object  # the 2020 edition's figure, or None
    part: str  # the file of the part page

    def text(self, name: str, lang: str = "en") -> str:
        """A field in a language: ``title`` or ``label`` (the English one until it is translated)."""
        return (lang != "en" and getattr(self, f"{name}_zh")) or getattr(self, name)


@dataclass(frozen=True)
class Part:
    file: str  # book/<file>.md, the part's page
    title: str
    title_zh: str
    chapters: tuple[Chapter, ...]
    optional: bool = False  # days after the plan's (Part 7: "beyond the 20 days")

    def text(self, name: str, lang: str = "en") -> str:
        return (lang != "en" and getattr(self, f"{name}_zh")) or getattr(self, name)


@dataclass(frozen=True)
class Book:
    parts: tuple[Part, ...]

    @property
    def chapters(self) -> tuple[Chapter, ...]:
        return tuple(c for p in self.parts for c in p.chapters)

    @property
    def days(self) -> int:
        """How many days the study plan has: one per chapter of the parts that are not optional."""
        return sum(len(p.chapters) for p in self.parts if not p.optional)

    def part(self, file: str) -> Part:
        return next(p for p in self.parts if p.file == file)

    def chapter(self, key: str) -> Chapter:
        """A chapter by its id ("1-2") or its file stem ("1-2-image-data")."""
        for c in self.chapters:
            if key in (c.id, c.file):
                return c
        raise BookError(f"no chapter {key!r} in {TABLE}; chapters are: {', '.join(c.id for c in self.chapters)}")


_CHAPTER_KEYS = {"day", "id", "file", "title", "title_zh", "stars", "hours", "budget_s", "metric", "label",
                 "label_zh", "target"}
_OPTIONAL_KEYS = {"target_zh", "original"}


def _chapter(row: dict, part: str) -> Chapter:
    name = row.get("id", row)
    missing, unknown = _CHAPTER_KEYS - set(row), set(row) - _CHAPTER_KEYS - _OPTIONAL_KEYS
    if missing or unknown:
        raise BookError(f"chapter {name} in {TABLE}: " + "; ".join(
            ([f"missing {sorted(missing)}"] if missing else []) + ([f"unknown {sorted(unknown)}"] if unknown else [])))
    if not re.fullmatch(r"\d+-\d+", str(row["id"])) or not str(row["file"]).startswith(f"{row['id']}-"):
        raise BookError(f"chapter {name} in {TABLE}: the id is <part>-<n> and the file starts with it, got "
                        f"id {row['id']!r}, file {row['file']!r}")
    return Chapter(
        day=int(row["day"]), id=str(row["id"]), file=str(row["file"]), title=row["title"], title_zh=row["title_zh"],
        stars=int(row["stars"]), hours=float(row["hours"]), budget_s=int(row["budget_s"]), metric=row["metric"],
        label=row["label"], label_zh=row["label_zh"],
        target=parse_target(row["target"], str(row["id"]), row.get("target_zh")),
        original=row.get("original"), part=part)


def parse(text: str) -> Book:
    """The book that a chapters.yml text describes, checked: days run 1, 2, 3 … in table order."""
    raw = yaml.safe_load(text) or {}
    parts = tuple(Part(p["file"], p["title"], p["title_zh"], tuple(_chapter(c, p["file"]) for c in p["chapters"]),
                       bool(p.get("optional", False)))
                  for p in raw.get("parts", []))
    optional = [p.optional for p in parts]
    if optional != sorted(optional):
        raise BookError(f"{TABLE}: optional parts come after the plan's parts, got {[p.file for p in parts]}")
    book = Book(parts)
    days = [c.day for c in book.chapters]
    if days != list(range(1, len(days) + 1)):
        raise BookError(f"{TABLE}: the days must run 1, 2, 3 … in table order, got {days}")
    ids = [c.id for c in book.chapters]
    if len(set(ids)) != len(ids):
        raise BookError(f"{TABLE}: a chapter id appears twice: {sorted({i for i in ids if ids.count(i) > 1})}")
    return book


@functools.cache
def load(root: Path = PACKAGE_ROOT) -> Book:
    """The book of the repository at ``root`` (this checkout by default), read once per process. A pt20
    installed without the repository (Colab) reads the copy of the table packaged with it."""
    table = root / TABLE
    if not table.exists() and root == PACKAGE_ROOT:
        table = Path(__file__).with_name("chapters.yml")
    return parse(table.read_text(encoding="utf-8"))


def check_target(chapter: str, value: float) -> float:
    """Assert that ``value`` meets chapter ``chapter``'s headline target in the table; return it.

    A chapter's self-check calls it on its headline, so the threshold the page promises and the one
    the self-check asserts are the same number. Taught in chapter 1-1."""
    c = load().chapter(chapter)
    if not c.target.met_by(value):
        raise AssertionError(f"{c.id}: {c.metric} = {value} misses the book's {c.target.describe()} "
                             f"({TABLE})")
    return value
