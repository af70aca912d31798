"""`make new-chapter`: a new chapter (and, for a new part, its part page) that already passes the
structure checks, in one command.

    python -m tools.scaffold --id 7-1 --name attention --title "Attention from First Principles"
    python -m tools.scaffold --id 8-1 --name diffusion --title "Diffusion" --part-title "Beyond, again" --optional

It writes the chapter's row into book/chapters.yml (its day follows the last one), the chapter's
skeleton book/<id>-<name>.md (title lines, objectives, a first cell that seeds everything, one
teaching section, a summary, two exercises with asserted solutions and a self-check that reports an
"all asserted" headline), a part page for a new part, the Chinese catalog stub of every new page
(untranslated), executes the skeleton into its notebook and regenerates the pages derived from the
table. Then the author writes the chapter, `make notebooks CH=<id>-<name>`, and `make translations`.

A chapter is added at the end of the book: inserting one earlier would renumber the days of every
chapter after it, whose first lines (and notebooks) would all change.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from babel.messages.catalog import Catalog

from pt20 import book as book_model
from tools import i18n, notebooks, pages

ROOT = Path(__file__).resolve().parents[1]
FRONT_MATTER = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
    format_version: 0.13
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---
"""


class ScaffoldError(Exception):
    """What the author asked for cannot be added; the message says what to do instead."""


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def row(chapter: book_model.Chapter) -> str:
    """The chapter's line in chapters.yml, in the table's one-line style."""
    fields = {"day": chapter.day, "id": _quoted(chapter.id), "file": chapter.file, "title": _quoted(chapter.title),
              "title_zh": _quoted(chapter.title_zh), "stars": chapter.stars, "hours": f"{chapter.hours:g}",
              "budget_s": chapter.budget_s, "metric": chapter.metric, "label": _quoted(chapter.label),
              "label_zh": _quoted(chapter.label_zh), "target": _quoted(chapter.target.text), "original": "null"}
    return "      - {" + ", ".join(f"{k}: {v}" for k, v in fields.items()) + "}"


def part_block(part: book_model.Part) -> str:
    lines = [f"  - file: {part.file}", f"    title: {_quoted(part.title)}", f"    title_zh: {_quoted(part.title_zh)}"]
    if part.optional:
        lines.append("    optional: true")
    return "\n".join(lines + ["    chapters:"])


def chapter_source(chapter: book_model.Chapter, book: book_model.Book) -> str:
    """A skeleton that passes the structure tests; every sentence in it is for the author to replace."""
    return f"""{FRONT_MATTER}
# {pages.heading(chapter)}

> {pages.breadcrumb(chapter, "en", book)}

One paragraph: the question this day answers, and why a reader wants the answer.

## What you will learn
- The first idea of the chapter.
- The second idea of the chapter.
- The third idea of the chapter.

```{{code-cell}} ipython3
import torch

import pt20

SEED = 42
gen = pt20.seed.seed_everything(SEED)
```

## The first idea

Prose that says why, then a short cell that shows it.

```{{code-cell}} ipython3
x = torch.arange(6.0).reshape(2, 3)
print(x.sum(dim=0))
```

## Summary

- Each claim of the chapter, backed by an output above or by the self-check.

## Exercises

```{{exercise-start}}
:label: ex-{chapter.id}-first
```
The first exercise.
```{{exercise-end}}
```

```{{solution-start}} ex-{chapter.id}-first
:class: dropdown
```
```{{code-cell}} ipython3
column_sums = x.sum(dim=0)
assert column_sums.tolist() == [3.0, 5.0, 7.0]
```
```{{solution-end}}
```

```{{exercise-start}}
:label: ex-{chapter.id}-second
```
The second exercise.
```{{exercise-end}}
```

```{{solution-start}} ex-{chapter.id}-second
:class: dropdown
```
```{{code-cell}} ipython3
row_sums = x.sum(dim=1)
assert row_sums.tolist() == [3.0, 12.0]
```
```{{solution-end}}
```

## Self-check

```{{code-cell}} ipython3
checks = {{"sums agree": column_sums.sum() == row_sums.sum()}}
failed = [name for name, ok in checks.items() if not ok]
assert not failed, f"failed checks: {{failed}}"
pt20.check_target("{chapter.id}", len(checks))
pt20.report("{chapter.id}", {chapter.metric}=len(checks))
print(f"Self-check passed: {{len(checks)}} checks.")
```
"""


def part_source(part: book_model.Part) -> str:
    return f"""# {part.title}

What this part covers, and how it builds on the parts before it.

```{{tableofcontents}}
```
"""


def catalog_stub(page: str) -> Path:
    """An empty catalog for a new page, so that the Chinese site builds (showing English) until
    `make translations` extracts its messages."""
    path = i18n.catalog_path(page)
    if not path.exists():
        i18n.write(Catalog(locale=i18n.LANG, project="PyTorch in 20 Days"), path)
    return path


def plan(table: str, chapter_id: str, name: str, title: str, part_title: str | None,
         optional: bool) -> tuple[str, book_model.Chapter, book_model.Part | None]:
    """The new table text, the new chapter and, when its part is new, the new part."""
    book = book_model.parse(table)
    if not re.fullmatch(r"\d+-\d+", chapter_id):
        raise ScaffoldError(f"--id {chapter_id!r}: write <part>-<number>, such as 7-1")
    if not re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", name):
        raise ScaffoldError(f"--name {name!r}: lower-case words joined by hyphens, such as small-gpt")
    if any(c.id == chapter_id for c in book.chapters):
        raise ScaffoldError(f"chapter {chapter_id} is already in {book_model.TABLE}")
    number = chapter_id.split("-")[0]
    last = book.parts[-1] if book.parts else None
    in_last = last is not None and all(c.id.split("-")[0] == number for c in last.chapters)
    new_part = None
    if not in_last:
        if any(c.id.split("-")[0] == number for c in book.chapters):
            raise ScaffoldError(f"part {number} is not the last part: a chapter added there would renumber the "
                                "days of every chapter after it. Add it by hand, or add it to the last part")
        if not part_title:
            raise ScaffoldError(f"part {number} is new: give its title with --part-title (PART_TITLE=...)")
        slug = re.sub(r"[^a-z0-9]+", "-", part_title.lower()).strip("-")
        new_part = book_model.Part(file=f"part-{number}-{slug}", title=f"Part {number} · {part_title}", title_zh="",
                                   chapters=(), optional=optional)
    elif part_title:
        raise ScaffoldError(f"part {number} exists ({last.file}): leave out --part-title")
    chapter = book_model.Chapter(
        day=len(book.chapters) + 1, id=chapter_id,
        file=f"{chapter_id}-{name}", title=title, title_zh="", stars=3, hours=1, budget_s=60,
        metric="checks_passed", label="checks of the chapter", label_zh="",
        target=book_model.parse_target("all asserted", chapter_id), original=None,
        part=new_part.file if new_part else last.file)
    text = table.rstrip("\n") + "\n"
    if new_part:
        text += part_block(new_part) + "\n"
    text += row(chapter) + "\n"
    return text, chapter, new_part


def scaffold(chapter_id: str, name: str, title: str, part_title: str | None = None, optional: bool = False,
             execute: bool = True) -> list[Path]:
    """Add the chapter; return the files written."""
    table_path = ROOT / book_model.TABLE
    text, chapter, new_part = plan(table_path.read_text(encoding="utf-8"), chapter_id, name, title, part_title,
                                   optional)
    book = book_model.parse(text)  # the new table must read back as a book
    md = ROOT / "book" / f"{chapter.file}.md"
    if md.exists():
        raise ScaffoldError(f"{md.relative_to(ROOT)} exists already: choose another --name, or add its row by hand")
    written = [table_path, md]
    md.write_text(chapter_source(chapter, book), encoding="utf-8")
    if new_part:
        part_md = ROOT / "book" / f"{new_part.file}.md"
        part_md.write_text(part_source(new_part), encoding="utf-8")
        written += [part_md, catalog_stub(f"book/{new_part.file}")]
    written.append(catalog_stub(f"notebooks/{chapter.file}"))
    tmp = table_path.with_suffix(".yml.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(table_path)  # the row last: a failed scaffold leaves the table as it was
    book_model.load.cache_clear()
    if execute:
        notebooks.build(md)
        written.append(notebooks.notebook_path(md))
        written += pages.write()
        i18n.write_generated_catalogs()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--id", required=True, help="<part>-<number>, such as 7-1")
    parser.add_argument("--name", required=True, help="the file name after the id, such as attention")
    parser.add_argument("--title", required=True, help="the chapter's title, in English")
    parser.add_argument("--part-title", help="for a new part: its title without 'Part N ·'")
    parser.add_argument("--optional", action="store_true", help="a new part whose days come after the plan's")
    args = parser.parse_args(argv)
    try:
        written = scaffold(args.id, args.name, args.title, args.part_title, args.optional)
    except (ScaffoldError, book_model.BookError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path.relative_to(ROOT)}")
    print(f"Next: write {written[1].relative_to(ROOT)}, set its row in book/chapters.yml (stars, hours, budget, "
          f"metric, target, Chinese title), run `make notebooks CH={written[1].stem}`, then `make translations`.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
