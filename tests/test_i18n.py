"""The Chinese edition (tools/i18n.py): catalogs paired with pages, translations that keep every
code span and follow the glossary, stale translations reported, and Chinese notebooks that carry
the English notebooks' code and outputs unchanged."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import i18n  # noqa: E402
import pages  # noqa: E402

SITE_PAGES = i18n.pages()
CHAPTER_PAGES = [p for p in SITE_PAGES if p.startswith("notebooks/")]
PARTS = pages.load()


def catalog(page: str) -> Catalog:
    return i18n.read(i18n.catalog_path(page))


def translated(page: str) -> list:
    return [m for m in catalog(page) if m.id and m.string and not m.fuzzy]


def test_every_page_has_a_catalog_and_every_catalog_a_page() -> None:
    catalogs = sorted(p.relative_to(i18n.CATALOGS).with_suffix("").as_posix() for p in i18n.CATALOGS.rglob("*.po"))
    assert catalogs == SITE_PAGES, "run `make translations` to pair locale/zh_CN with the pages of _toc.yml"


def test_pages_marked_done_are_pages() -> None:
    assert set(i18n.marked_done()) <= set(SITE_PAGES)


@pytest.mark.parametrize("page", SITE_PAGES)
def test_translations_keep_code_math_links_and_markup_in_chinese_typography(page: str) -> None:
    bad = {m.id[:80]: i18n.problems(m.id, m.string) for m in translated(page)}
    bad = {k: [p for p in v if not p.startswith("glossary")] for k, v in bad.items()}
    assert not {k: v for k, v in bad.items() if v}


@pytest.mark.parametrize("page", SITE_PAGES)
def test_translations_follow_the_glossary(page: str) -> None:
    bad = {m.id[:80]: [p for p in i18n.problems(m.id, m.string) if p.startswith("glossary")] for m in translated(page)}
    assert not {k: v for k, v in bad.items() if v}


def test_a_message_has_one_translation_on_every_page() -> None:
    """A shared note or sentence reads the same wherever it appears (`make translations` copies a
    translation to the pages where the message is still untranslated, never over another one).
    A word or two ("style" as a table header) may read differently in another chapter's context."""
    seen: dict[str, set[str]] = {}
    for page in SITE_PAGES:
        for m in translated(page):
            if len(m.id.split()) >= 5:
                seen.setdefault(m.id, set()).add(m.string)
    assert not {k[:60]: v for k, v in seen.items() if len(v) > 1}


def test_the_glossary_has_one_chinese_term_per_english_term() -> None:
    terms = i18n.glossary()
    english = [t["en"].lower() for t in terms]
    assert len(english) == len(set(english)), "a term is listed twice"
    assert all(str(t.get("zh", "")).strip() for t in terms)
    assert len(terms) >= 100


def test_a_lost_code_span_a_changed_link_lost_bold_and_a_missed_term_are_caught() -> None:
    english = "Call `loss.backward()` on the [loss function](https://pytorch.org/docs) when $n > 1$."
    assert not i18n.problems(english, "当 $n > 1$ 时，对[损失函数](https://pytorch.org/docs)调用 `loss.backward()`。")
    assert i18n.problems(english, "当 $n > 1$ 时，对[损失函数](https://pytorch.org/docs)调用 loss.backward()。")
    assert i18n.problems(english, "当 $n > 1$ 时，对[损失函数](https://pytorch.org)调用 `loss.backward()`。")
    assert i18n.problems(english, "当 $n > 1$ 时，对[损失](https://pytorch.org/docs)调用 `loss.backward()`。") == \
        ["glossary: 'loss function' is 损失函数"]
    bold = "**No warm-up.** The first call pays for compilation."
    assert not i18n.problems(bold, "**不预热。** 第一次调用要付出编译的代价。")
    assert i18n.problems(bold, "**不预热。**第一次调用要付出编译的代价。")  # renders the asterisks
    assert i18n.problems("It is right 10 % of the time.", "它有 10 % 的时候是对的。") == \
        ["typography: no space before % in Chinese text (10%)"]
    assert i18n.problems("Small, but real.", "很小, 但真实存在。") == \
        ["typography: full-width punctuation after Chinese text (，；：？！)"]
    glued = "Accuracy {glue:text}`acc:.3f` after {doc}`training <chapter>`."
    assert not i18n.problems(glued, "{doc}`训练 <chapter>`之后的准确率为 {glue:text}`acc:.3f`。")
    assert i18n.problems(glued, "{doc}`训练 <chapter>`之后的准确率为 {glue:text}`acc:.4f`。")


def test_a_changed_english_paragraph_makes_its_translation_out_of_date(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The translation of an edited paragraph is kept only as a fuzzy suggestion: the Chinese site
    shows the English text, and the share of a page marked done falls below 100 %."""
    monkeypatch.setattr(i18n, "TEMPLATES", tmp_path / "gettext")
    monkeypatch.setattr(i18n, "CATALOGS", tmp_path / "catalogs")
    monkeypatch.setattr(i18n, "extract", lambda: None)
    monkeypatch.setattr(i18n, "marked_done", lambda: ["book/page"])
    monkeypatch.setattr(i18n, "pages", lambda: ["book/page"])
    old = Catalog(locale=i18n.LANG)
    old.add("Gradients accumulate across calls.", "梯度会在多次调用之间累积。")
    old.add("Reset them with `x.grad = None`.", "用 `x.grad = None` 重置梯度。")
    i18n.write(old, i18n.catalog_path("book/page"))
    template = Catalog()
    template.add("Gradients accumulate across backward calls.")  # edited
    template.add("Reset them with `x.grad = None`.")  # unchanged
    (tmp_path / "gettext" / "book").mkdir(parents=True)
    with (tmp_path / "gettext" / "book" / "page.pot").open("wb") as f:
        i18n.write_po(f, template)
    assert i18n.share("book/page") == (1, 2)
    assert i18n.report(check=True) == 1
    merged = i18n.merged(template, i18n.read(i18n.catalog_path("book/page")))
    edited = merged.get("Gradients accumulate across backward calls.")
    assert edited.fuzzy and edited.string == "梯度会在多次调用之间累积。"  # a suggestion, not used
    merged.get("Gradients accumulate across backward calls.").flags.discard("fuzzy")
    i18n.write(merged, i18n.catalog_path("book/page"))
    assert i18n.share("book/page") == (2, 2) and i18n.report(check=True) == 0


def test_messages_without_words_need_no_translation() -> None:
    assert not i18n.needs_translation("★★★☆☆")
    assert not i18n.needs_translation("`x.grad`")
    assert not i18n.needs_translation("$\\sum_i g_i$")
    assert i18n.needs_translation("the `x.grad` attribute")


def test_generated_pages_have_current_catalogs() -> None:
    assert not i18n.stale_generated_catalogs(), "run `make pages`"


@pytest.mark.parametrize("chapter", [c for part in PARTS for c in part["chapters"]], ids=lambda c: c["id"])
def test_chapter_title_lines_are_translated_from_the_plan(chapter: dict) -> None:
    strings = {m.id.replace("`", ""): m.string.replace("`", "") for m in translated(f"notebooks/{chapter['file']}")}
    for line in (pages.heading, pages.breadcrumb):
        assert strings.get(line(chapter)) == line(chapter, i18n.LANG)


def test_chinese_lines_are_joined_without_a_space() -> None:
    joined = pages.join_lines(["所有线程池", "固定为两个线程，`make test`", "会比较"])
    assert joined == "所有线程池固定为两个线程，`make test` 会比较"
    assert pages.join_lines(["two", "lines"]) == "two lines"


TRANSLATION = {
    "Gradients": "梯度",
    "Call `backward()` once, then read `x.grad`.": "调用一次 `backward()`，然后读取 `x.grad`。",
    "One item of a list that goes on over two lines.": "列表中跨两行的一项。",
    "Why the CPU": "为什么用 CPU",
    "A note with a title and an option.": "一个带标题和选项的提示。",
    "cell": "单元格",
    "A quoted line": "引用的一行",
    "other cell": "另一个单元格",
    r"\text{loss} = 0": r"\text{损失} = 0",
}
SOURCE = r"""## Gradients

Call `backward()` once,
then read `x.grad`.

- One item of a list that goes
  on over two lines.
- Not translated yet.

> A quoted line

| `code` | cell |
|---|---|
| cell | other cell |

$$\text{loss} = 0$$

```{admonition} Why the CPU
:class: note
A note with a title and an option.
```

```python
# Gradients
print("cell")
```
"""
EXPECTED = r"""## 梯度

调用一次 `backward()`，然后读取 `x.grad`。

- 列表中跨两行的一项。
- Not translated yet.

> 引用的一行

| `code` | 单元格 |
|---|---|
| 单元格 | 另一个单元格 |

$$\text{损失} = 0$$

```{admonition} 为什么用 CPU
:class: note
一个带标题和选项的提示。
```

```python
# Gradients
print("cell")
```
"""


def test_markdown_is_translated_block_by_block_and_code_is_left_alone() -> None:
    used: set[str] = set()
    assert i18n.translate_markdown(SOURCE, TRANSLATION, used) == EXPECTED
    assert used == set(TRANSLATION)


@pytest.mark.parametrize("page", CHAPTER_PAGES)
def test_chinese_notebook_has_every_translation_and_the_english_code_and_outputs(page: str) -> None:
    english = json.loads((ROOT / f"{page}.ipynb").read_text())
    chinese, used = i18n.translated_notebook(page)
    unused = {m.id[:80] for m in translated(page)} - {u[:80] for u in used}
    assert not unused, "translated messages the Chinese notebook did not place"
    assert [c["cell_type"] for c in chinese["cells"]] == [c["cell_type"] for c in english["cells"]]
    for en, zh in zip(english["cells"], chinese["cells"]):
        if en["cell_type"] == "code":
            assert (zh["source"], zh["outputs"]) == (en["source"], en["outputs"])
