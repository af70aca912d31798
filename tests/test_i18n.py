"""The Chinese edition (tools/i18n.py): catalogs paired with pages, translations that keep every
code span and follow the glossary, stale translations reported, and Chinese notebooks that carry
the English notebooks' code and outputs unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog

from tools import i18n, pages

ROOT = Path(__file__).resolve().parents[1]

SITE_PAGES = i18n.pages()
CHAPTER_PAGES = [p for p in SITE_PAGES if p.startswith("notebooks/")]
BOOK = pages.load()


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


@pytest.mark.parametrize("chapter", BOOK.chapters, ids=lambda c: c.id)
def test_chapter_title_lines_are_translated_from_the_plan(chapter) -> None:
    strings = {m.id.replace("`", ""): m.string.replace("`", "") for m in translated(f"notebooks/{chapter.file}")}
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


# A translation that changes structure: each payload of the attack on the Chinese edition (issue 22),
# added to a message of the 2-2 catalog, and what the refusal must name.
PAYLOADS = {
    "inline html": (' <img src=x onerror="alert(document.domain)">',
                    'raw HTML <img src=x onerror="alert(document.domain)">'),
    "include": ("\n\n```{include} ../../../../secret.txt\n```", "directive {include} ../../../../secret.txt"),
    "raw block": ("\n\n```{raw} html\n<script>alert(document.domain)</script>\n```", "directive {raw} html"),
    "eval-rst": ("\n\n```{eval-rst}\n.. raw:: html\n\n   <script>alert(1)</script>\n```", "directive {eval-rst}"),
    "colon include": ("\n\n:::{include} ../../../../secret.txt\n:::", "directive {include} ../../../../secret.txt"),
}
PAGE = "notebooks/2-2-autograd"


@pytest.fixture
def attacked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A temp copy of the 2-2 catalog, the only page; attack(payload) appends payload to one of its
    translations and returns (msgid, msgstr)."""
    monkeypatch.setattr(i18n, "CATALOGS", tmp_path / "catalogs")
    monkeypatch.setattr(i18n, "TEMPLATES", tmp_path / "gettext")
    monkeypatch.setattr(i18n, "pages", lambda: [PAGE])
    monkeypatch.setattr(i18n, "marked_done", lambda: [])
    monkeypatch.setattr(i18n, "extract", lambda: None)
    copy = i18n.read(ROOT / "locale" / "zh_CN" / "LC_MESSAGES" / f"{PAGE}.po")
    template = Catalog()
    for m in copy:
        if m.id:
            template.add(m.id)
    (tmp_path / "gettext" / "notebooks").mkdir(parents=True)
    with (tmp_path / "gettext" / f"{PAGE}.pot").open("wb") as f:
        i18n.write_po(f, template)
    i18n.write(copy, i18n.catalog_path(PAGE))

    def attack(payload: str) -> tuple[str, str]:
        catalog = i18n.read(i18n.catalog_path(PAGE))
        message = next(m for m in catalog if m.id and m.string and not m.fuzzy)
        message.string += payload
        i18n.write(catalog, i18n.catalog_path(PAGE))
        return message.id, message.string
    return attack


@pytest.mark.parametrize("name", PAYLOADS)
def test_a_translation_that_adds_html_a_directive_or_a_raw_block_is_refused(name: str, attacked, monkeypatch,
                                                                            capsys, tmp_path: Path) -> None:
    payload, named = PAYLOADS[name]
    msgid, msgstr = attacked(payload)
    assert any(named in p for p in i18n.problems(msgid, msgstr)), i18n.problems(msgid, msgstr)

    # `share --check` (make translations-check) fails, naming the catalog, the message and what is wrong
    assert i18n.main(["share", "--check"]) == 1
    out = capsys.readouterr().out
    assert f"{PAGE}.po" in out and msgid[:40] in out and named in out

    # and `html` places nothing: it stops before Sphinx runs, with the same explanation
    monkeypatch.setattr(i18n, "SOURCE", tmp_path / "zh-source")
    monkeypatch.setattr(i18n, "sphinx", lambda *a, **k: 0)
    assert i18n.main(["html"]) == 1
    err = capsys.readouterr().err
    assert f"{PAGE}.po" in err and msgid[:40] in err and named in err
    placed = [p for p in tmp_path.rglob("*.ipynb") if payload.strip() in p.read_text()]
    assert not placed and not (tmp_path / "zh-source").exists()


def test_an_untouched_catalog_is_placed(attacked, monkeypatch, capsys, tmp_path: Path) -> None:
    """The control of the test above: the same copy without a payload passes and builds."""
    monkeypatch.setattr(i18n, "SOURCE", tmp_path / "zh-source")
    monkeypatch.setattr(i18n, "sphinx", lambda *a, **k: 0)
    assert i18n.main(["share", "--check"]) == 0
    assert i18n.main(["html"]) == 0
    assert (tmp_path / "zh-source" / "notebooks" / "2-2-autograd.ipynb").exists()


@pytest.mark.parametrize(("english", "chinese", "named"), [
    ("See the docs.", "见 {raw-html}`<b>文档</b>`。", "role {raw-html}"),
    ("See the docs.", "见[文档](https://example.com/x)。", "link to https://example.com/x"),
    ("See the docs.", "见文档 <https://example.com/x>。", "link to https://example.com/x"),
    ("See the [docs](https://pytorch.org).", "见[文档](https://example.com)。", "link to https://pytorch.org"),
    ("See the docs.", "见文档 ![图](https://example.com/x.png)。", "image https://example.com/x.png"),
    ("See the docs.", "<script>alert(1)</script>", "raw HTML <script>alert(1)</script>"),
    ("See the docs.", "% 见文档", "myst_line_comment"),
    ("See the docs.", "- 见文档", "bullet_list"),
    ("See the docs.", "见文档 {{ secret }}", "substitution_inline"),
])
def test_roles_links_html_and_blocks_the_english_has_not_are_refused(english: str, chinese: str, named: str) -> None:
    assert any(named in p for p in i18n.problems(english, chinese)), i18n.problems(english, chinese)


@pytest.mark.parametrize("chinese", ["单元 | 格", "单元\n格"])
def test_a_translated_table_cell_cannot_split_its_row(chinese: str) -> None:
    """A table cell's translation is put between the row's | marks: a | or a newline of its own
    would split the row and drop or move cells."""
    source = "| a | b |\n|---|---|\n| cell | other |\n"
    tokens = i18n.markdown_parser().parse(i18n.translate_markdown(source, {"cell": chinese}, set()))
    assert chinese not in [t.content for t in tokens if t.type == "inline"]  # what placing it would do
    assert any("table" in p for p in i18n.problems("cell", chinese)), i18n.problems("cell", chinese)
    assert not i18n.problems("a | b", "甲 | 乙")  # a | the English has is the translator's to keep


NUMBERS = "numbers: the English has {}, the translation does not (keep every number as it is)"


def test_a_changed_number_is_caught_and_chinese_numerals_dates_and_units_are_not() -> None:
    assert i18n.problems("It is 2, plus 1.", "它是 3，再加 1。") == [NUMBERS.format("2")]
    assert i18n.problems("A rate of 0.01 and 1,000 steps.", "学习率 0.1，1,000 步。") == [NUMBERS.format("0.01")]
    for english, chinese in [
        ("Part 1 · The modeling workflow", "第一部分 · 建模流程"),
        ("1 · The modeling workflow", "一 · 建模流程"),
        ("Convolutions in 1, 2 and 3 dimensions of 4-D inputs.", "对四维输入做一维、二维和三维卷积。"),
        ("On 13 February 2020 Hubei reported 13,332 cases.", "2020 年 2 月 13 日，湖北报告了 13,332 例。"),
        ("A 10000×200 matrix, 20 billion multiply-adds, 60,000 images.", "10000×200 矩阵，200 亿次乘加，6 万张图像。"),
        ("New COVID-19 cases in float32 with `x = 3`.", "新冠新增病例，float32，`x = 3`。"),
        ("Report on Coronavirus Disease 2019 (COVID-19).", "新型冠状病毒肺炎（COVID-19）报告。"),
        ("Input size 3 and hidden size 3.", "输入大小和隐藏大小都是 3。"),
    ]:
        assert not i18n.problems(english, chinese), (english, i18n.problems(english, chinese))


@pytest.mark.parametrize(("line", "where", "why"), [
    ('msgstr "梯度会累积。', 6, "quote"),  # babel would drop the 。
    ('msgstrr "梯度会累积。"', 6, "msgstrr"),  # babel would skip it: "English changed"
    ('msgstr "梯度" 会累积。"', 6, "quote"),
    ('msgid "Gradients add up."', 5, "missing msgstr"),
])
def test_a_malformed_catalog_is_refused_with_its_file_and_line(line: str, where: int, why: str,
                                                               tmp_path: Path) -> None:
    path = tmp_path / "page.po"
    path.write_text('msgid ""\nmsgstr ""\n"Language: zh_CN\\n"\n\n'
                    'msgid "Gradients accumulate."\n' + line + '\n\nmsgid "Reset them."\nmsgstr "重置。"\n')
    with pytest.raises(i18n.CatalogError, match=rf"page\.po:{where}: .*{why}"):
        i18n.read(path)
    mended = tmp_path / "mended.po"
    mended.write_text(path.read_text().replace(line, 'msgstr "梯度会累积。"'))
    assert i18n.read(mended).get("Gradients accumulate.").string == "梯度会累积。"


def test_the_hidden_cell_toggle_speaks_the_page_language() -> None:
    """MyST-NB writes "Show code cell source" above a `hide-input` cell; the Chinese edition translates it."""
    from docutils.utils import new_document
    from myst_nb.core.config import NbParserConfig
    from myst_nb.sphinx_ import HideCodeCellNode

    from _ext import pt20_site

    defaults = NbParserConfig()

    def toggle(language: str, kind: str) -> tuple[str, str]:
        config = type("Config", (), {"language": language, "nb_code_prompt_show": defaults.code_prompt_show,
                                     "nb_code_prompt_hide": defaults.code_prompt_hide})()
        page = new_document("page")
        page += HideCodeCellNode(prompt_show=defaults.code_prompt_show.replace("{type}", kind),
                                 prompt_hide=defaults.code_prompt_hide.replace("{type}", kind))
        pt20_site.translate_code_prompts(page, config)
        node = next(iter(page.findall(HideCodeCellNode)))
        return node["prompt_show"], node["prompt_hide"]

    assert toggle("zh_CN", "source") == ("显示代码", "隐藏代码")
    assert toggle("zh_CN", "outputs") == ("显示输出", "隐藏输出")
    assert toggle("en", "source") == ("Show code cell source", "Hide code cell source")


def test_a_fuzzy_entry_survives_round_trips_without_growing_comments(tmp_path: Path) -> None:
    """babel reads "#| msgid" back as a comment and wraps long ones: catalogs grew "# | msgid" debris."""
    catalog = Catalog(locale="zh_CN")
    old = ("The matrix [[1, 2], [−5, 4]] has no real \"eigenvalues\": they are 2.5\n± 2.7839j, so "
           "`torch.linalg.eigvals` returns **complex** tensors, a sentence long enough to be wrapped")
    catalog.add("The new English", "旧的译文", flags=["fuzzy"], previous_id=[old])
    path = tmp_path / "page.po"
    i18n.write(catalog, path)
    first = path.read_text(encoding="utf-8")
    for _ in range(2):  # what `make translations` and a translator's edit do to an untouched entry
        again = i18n.read(path)
        path.unlink()
        i18n.write(again, path)
    assert path.read_text(encoding="utf-8") == first
    message = next(m for m in i18n.read(path) if m.id)
    assert message.user_comments == [] and message.previous_id == [old.replace("\n", " ")]
    assert sum(line.startswith("#|") for line in first.splitlines()) == 1


@pytest.mark.parametrize("page", [p for p in SITE_PAGES if not p.startswith("notebooks/")])
def test_every_translation_of_a_markdown_page_is_placed(page: str) -> None:
    """Issue 23: the placement check covers the front page, part pages and generated pages, not only chapters."""
    _, used = i18n.translated_page(page)
    assert not i18n.unplaced(page, used)


def test_a_translation_whose_english_changed_is_reported_unplaced(monkeypatch: pytest.MonkeyPatch) -> None:
    page = "book/index"
    stale = dict(i18n.translation_of(page)) | {"A paragraph the front page no longer has.": "首页已经没有的段落。"}
    monkeypatch.setattr(i18n, "translation_of", lambda p: stale if p == page else {})
    _, used = i18n.translated_page(page)
    problems = i18n.unplaced(page, used)
    assert len(problems) == 1 and "A paragraph the front page no longer has" in problems[0]


def test_display_math_on_lines_of_its_own_is_placed() -> None:
    """7-1 writes $$ on lines of their own, and Sphinx's message keeps the newlines around the formula:
    the translation was never found, and the Chinese page showed the English formula."""
    source = "Text.\n\n$$\n\\text{score} = q \\cdot k\n$$\n"
    translation = {"\n\\text{score} = q \\cdot k\n": "\n\\text{得分} = q \\cdot k\n"}
    used: set[str] = set()
    out = i18n.translate_markdown(source, translation, used)
    assert "\\text{得分}" in out and used == set(translation)
