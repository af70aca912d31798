"""The Chinese edition: gettext catalogs of the one English source.

    python -m tools.i18n update          # extract the messages, merge them into locale/zh_CN/LC_MESSAGES
    python -m tools.i18n share [--check] # translated share per page; --check fails for a page marked
                                         # done (locale/zh_CN/pages.yml) that is below 100 %
    python -m tools.i18n site            # both editions: _build/html and _build/html/zh (`make book`)
    python -m tools.i18n html            # the Chinese site alone, into _build/html/zh
    python -m tools.i18n notebooks DIR   # write the Chinese notebooks (same code and outputs) into DIR

Every paragraph, heading, list item, table cell and display formula of a page is one message.
Sphinx's gettext builder extracts them (code cells and outputs are not messages: nothing executes
twice), and each page's translations live in a standard .po catalog. When an English paragraph
changes, its message changes: `update` keeps the old translation only as a fuzzy suggestion, the
Chinese page shows the English paragraph until someone reviews it, and `share --check` fails.

The Chinese site is built from the Chinese pages and notebooks that write_source() makes by
putting each catalog's translations into the English page (see there why).
The catalogs of the generated pages (study plan, status, and the chapters' title lines) are
written from the words tools/pages.py holds in both languages (`python -m tools.i18n pages`).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import sys
from collections import Counter
from decimal import Decimal
from functools import cache
from pathlib import Path

import nbformat
import yaml
from babel.messages.catalog import Catalog
from babel.messages.pofile import PoFileError, read_po, unescape, write_po

from tools import notebooks
from tools import pages as site_pages

ROOT = Path(__file__).resolve().parents[1]
LANG = "zh_CN"
LOCALE = ROOT / "locale"
CATALOGS = LOCALE / LANG / "LC_MESSAGES"
TEMPLATES = ROOT / "_build" / "gettext"

# Spans a translation must carry over unchanged: inline code, math, MyST roles (glue values,
# cross-references), link targets and footnote references.
_CODE = re.compile(r"(`+)(.+?)\1")
_MATH = re.compile(r"\$\$.+?\$\$|\$[^$\s](?:[^$]*?[^$\s])?\$")
_ROLE = re.compile(r"\{[\w:-]+\}`[^`]*`")
_LINK = re.compile(r"\]\(([^)\s]+)\)")
_FOOTNOTE = re.compile(r"\[\^[\w-]+\]")

# The lines of a .po file: a keyword and one quoted string, or a quoted continuation line.
_PO_LINE = re.compile(r'(?:(?:msgctxt|msgid|msgid_plural|msgstr(?:\[\d+\])?)\s+)?"(?:[^"\\]|\\.)*"')


class CatalogError(Exception):
    """A catalog that cannot be read, or that holds a translation that cannot be put into its page."""


def sphinx(builder: str, outdir: Path, srcdir: Path = ROOT, **overrides) -> int:
    """Run Sphinx on the book the way `jupyter-book build` does, with its own doctrees: the one route
    both editions (and the message extraction) take, with one set of flags: warnings are errors
    (after the whole build has run, so all of them are reported) and every reference must resolve."""
    from jupyter_book.sphinx import build_sphinx

    overrides = {"external_toc_path": str(ROOT / "_toc.yml"), "latex_individualpages": False, "nitpicky": True,
                 **overrides}
    return build_sphinx(srcdir, outdir, noconfig=True, path_config=str(ROOT / "_config.yml"),
                        confoverrides=overrides, doctreedir=ROOT / "_build" / f".doctrees-{builder}-{outdir.name}",
                        builder=builder, warningiserror=True, keep_going=True, quiet=True)


def extract() -> None:
    """The message templates (.pot) of every page, one per page, into _build/gettext."""
    if sphinx("gettext", TEMPLATES) != 0:
        raise SystemExit("Sphinx could not extract the messages (see its warnings above)")


def pages() -> list[str]:
    """The pages of the site (_toc.yml), as Sphinx names them (book/index, notebooks/2-2-autograd, ...)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return sorted([toc["root"]] + [e["file"] for e in toc["chapters"]]
                  + [s["file"] for e in toc["chapters"] for s in e.get("sections", [])])


def catalog_path(page: str) -> Path:
    return CATALOGS / f"{page}.po"


def shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def read(path: Path) -> Catalog:
    """A catalog, refused with its file and line when a line is malformed: babel alone would drop a
    character of an unterminated string, or skip a misspelt keyword and report its message as
    untranslated."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise CatalogError(f"{shown(path)}: not UTF-8 ({e.reason} at byte {e.start}): save it as UTF-8") from None
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if line.startswith("#~") and not line.startswith("#~|"):
            line = line[2:].strip()  # an obsolete message: its lines are message lines too
        elif not line or line.startswith("#"):
            continue
        if not _PO_LINE.fullmatch(line):
            raise CatalogError(f'{shown(path)}:{number}: malformed line {line!r}: a .po line is a keyword (msgid, '
                               f'msgstr, msgctxt) and one "quoted" string, or a "quoted" continuation line; inside '
                               f'a string, write \\" for a quote and \\\\ for a backslash')
    try:
        catalog = read_po(io.BytesIO(text.encode("utf-8")), locale=LANG, abort_invalid=True)
    except PoFileError as e:
        message = str(e).rsplit(" on ", 1)[0]  # babel appends its 0-based line number
        raise CatalogError(f"{shown(path)}:{e.lineno + 1}: {message}" + (f": {e.line!r}" if e.line else "")) from None
    for message in catalog:
        _previous_from_comments(message)
    return catalog


PREVIOUS = "| msgid "


def _previous_from_comments(message) -> None:
    """babel reads a fuzzy entry's "#| msgid" line (the English it was translated from) as a translator
    comment, and writing that back would add a "# | msgid" comment on every round trip: turn it back
    into the previous msgid."""
    previous = [c for c in message.user_comments if c.startswith(PREVIOUS)]
    message.user_comments = [c for c in message.user_comments if not c.startswith("| ")]
    if previous:
        message.previous_id = ["".join(unescape(f'"{s}"') for s in re.findall(r'"((?:[^"\\]|\\.)*)"', previous[0]))]


def entries(catalog: Catalog) -> list[tuple]:
    return [(m.id, m.string, sorted(m.flags), m.previous_id) for m in catalog if m.id]


def unchanged(path: Path, catalog: Catalog) -> bool:
    try:
        return path.exists() and entries(read(path)) == entries(catalog)
    except CatalogError:
        return False  # a malformed file is replaced by the catalog written from the messages


NO_WRAP = 10**9


def write(catalog: Catalog, path: Path) -> None:
    """Atomically (a killed run leaves the old catalog, never half a new one), and only when a
    message changed: the header's dates alone are no reason for a diff."""
    for message in catalog:
        if not message.fuzzy:
            message.previous_id = []  # "#| msgid" lines only accompany a fuzzy suggestion
        elif message.previous_id:  # one "#| msgid" line: babel wraps a long one into lines it cannot read back
            message.previous_id = [" ".join(str(message.previous_id[0]).split("\n"))]
    if unchanged(path, catalog):
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".po.tmp")
    with tmp.open("wb") as f:
        # no wrapping (small diffs); the huge width also keeps each "#| msgid" comment on one line
        write_po(f, catalog, width=NO_WRAP, omit_header=False, include_previous=True)
    tmp.replace(path)


def prose(text: str) -> str:
    """The words of a message: code spans, math, roles and link targets removed."""
    for pattern in (_CODE, _MATH, _ROLE, _FOOTNOTE):
        text = pattern.sub(" ", text)
    return _LINK.sub("]", text)


def needs_translation(msgid: str) -> bool:
    """A message with no Latin letters outside code and math reads the same in both languages."""
    return bool(re.search(r"[A-Za-z]", prose(msgid)))


def carried_spans(text: str) -> list[str]:
    """What must survive translation verbatim, in a comparable (sorted) form."""
    spans = [m.group(0) for m in _CODE.finditer(_ROLE.sub(" ", text))]
    spans += _MATH.findall(_CODE.sub(" ", text))
    spans += [re.sub(r"`.*<(.+)>`", r"`\1`", r) for r in _ROLE.findall(text)]  # a role's target, not its text
    spans += _FOOTNOTE.findall(text)  # link targets: see structure(), which sees every kind of link
    return sorted(spans)


@cache
def glossary() -> list[dict]:
    return yaml.safe_load((LOCALE / LANG / "glossary.yml").read_text())


# Inline tokens that carry no structure of their own: words, breaks, and spans checked elsewhere
# (code and math by carried_spans, bold and italic by problems).
_WORDS = {"text", "softbreak", "hardbreak", "code_inline", "math_inline", "math_inline_double", "link_close",
          "strong_open", "strong_close", "em_open", "em_close"}


def describe(token) -> str:
    """A token as the structure of a message sees it: its kind, and what makes it live or point somewhere."""
    if token.type in ("fence", "colon_fence"):
        return f"directive {token.info.strip()}" if token.info.startswith("{") else f"code block {token.info}".strip()
    if token.type in ("html_block", "html_inline"):
        return f"raw HTML {token.content.strip()}"
    if token.type == "link_open":
        return f"link to {token.attrs.get('href')}"
    if token.type == "image":
        return f"image {token.attrs.get('src')}"
    if token.type == "myst_role":
        return f"role {{{token.meta.get('name')}}}"
    if token.type == "footnote_ref":
        return f"footnote [^{token.meta.get('label')}]"
    kind = token.type.removesuffix("_open")
    return " ".join(part for part in (kind, token.tag if kind == "heading" else "", token.content.strip()) if part)


def structure(text: str) -> tuple[list[str], Counter]:
    """The blocks of a message, in order (paragraph, list, directive with its argument, raw HTML,
    link definition), and its inline markup that is more than words (roles, links and images with
    their targets, raw HTML), parsed by the site's own MyST parser."""
    env: dict = {}
    blocks, inline = [], Counter()
    for token in markdown_parser().parse(text, env):
        if token.type == "inline":
            inline.update(describe(child) for child in token.children or [] if child.type not in _WORDS)
        elif not token.type.endswith("_close"):
            blocks.append(describe(token))
    blocks += [f"link definition [{label}]: {ref['href']}" for label, ref in env.get("references", {}).items()]
    return blocks, inline


def placement_problems(msgid: str, msgstr: str) -> list[str]:
    """Why a translation cannot be put where its English was: it may change words, not structure.
    A directive, role, raw HTML, link target or block that the English lacks would reach the site
    live (a {raw} block, an {include} of any readable file, an onerror= attribute), and a | or a
    newline of its own splits the table row or paragraph it is put into."""
    found = []
    (english_blocks, english_inline), (chinese_blocks, chinese_inline) = structure(msgid), structure(msgstr)
    english, chinese = Counter(english_blocks) + english_inline, Counter(chinese_blocks) + chinese_inline
    added, lost = list((chinese - english).elements()), list((english - chinese).elements())
    if added or lost:
        found.append("structure: a translation changes words, not structure;"
                     + (f" it adds {'; '.join(added)}" if added else "") + (" and" if added and lost else "")
                     + (f" it lacks {'; '.join(lost)}" if lost else ""))
    elif english_blocks != chinese_blocks:
        found.append(f"structure: the blocks {english_blocks} come in another order: {chinese_blocks}")
    if msgstr.count("\n") > msgid.count("\n"):
        found.append("a newline the English does not have: it would split the paragraph, heading or table row the "
                     "translation is put into (write the translation on one line)")
    if len(re.findall(r"(?<!\\)\|", msgstr)) != len(re.findall(r"(?<!\\)\|", msgid)):
        found.append("a | the English does not have: in a table cell it starts a new cell and the row loses or moves "
                     "cells (write ｜ or \\|)")
    return found


def problems(msgid: str, msgstr: str) -> list[str]:
    """Why a translation is not acceptable: changed structure, lost or changed spans or numbers,
    bold or italic that does not render, Chinese typography, or a glossary term not followed."""
    found = placement_problems(msgid, msgstr)
    want, got = carried_spans(msgid), carried_spans(msgstr)
    if want != got:
        missing = [s for s in want if s not in got]
        extra = [s for s in got if s not in want]
        found.append(f"code, math and roles must be kept as they are: missing {missing}, added {extra}")
    chinese_numbers = numbers_of_chinese(msgstr)
    lost = [written for value, written in numbers_of_english(msgid).items() if value not in chinese_numbers]
    if lost:
        found.append(f"numbers: the English has {', '.join(lost)}, the translation does not (keep every number as it "
                     "is)")
    english, chinese = markdown_parser().parse(msgid), markdown_parser().parse(msgstr)
    for kind, name in (("strong_open", "bold"), ("em_open", "italic")):
        n_english, n_chinese = (sum(c.type == kind for t in tokens for c in t.children or [])
                                for tokens in (english, chinese))
        if n_english != n_chinese:
            found.append(f"{name} text renders {n_english} times in the English, {n_chinese} in the "
                         "translation: a ** or * after full-width punctuation closes only before a space or "
                         "punctuation (write **标题**。 or **标题。** followed by a space)")
    words = prose(msgid).lower()
    chinese_prose = prose(msgstr)
    if re.search(r"[\u4e00-\u9fff][,;:?!]", chinese_prose):
        found.append("typography: full-width punctuation after Chinese text (，；：？！)")
    if re.search(r"\d %", chinese_prose):
        found.append("typography: no space before % in Chinese text (10%)")
    for term in glossary():
        if term.get("check", True) and re.search(rf"\b{re.escape(term['en'].lower())}s?\b", words) \
                and not any(zh in msgstr for zh in [term["zh"], *term.get("also", [])]):
            found.append(f"glossary: '{term['en']}' is {term['zh']}")
    return found


# Numbers a translation keeps. An English number stands alone (not in float32, COVID-19, 2x, v2.0),
# with its thousands separators and an optional scale word; the Chinese may write its own scale (20 billion
# is 200 亿) and, where Chinese writes numerals, 第一部分 (Part 1), 一维 (1-D) and 一 · (a part's index).
_ENGLISH_NUMBER = re.compile(r"(?<![\w.])(?<![A-Za-z]-)(\d+(?:,\d{3})*(?:\.\d+)?)"
                             r"(?:\s+(thousand|million|billion))?(?!\w)")
_CHINESE_NUMBER = re.compile(r"(\d+(?:,\d{3})*(?:\.\d+)?)(?:\s*(万|亿))?")
_CHINESE_NUMERAL = re.compile(r"(?<=第)[一二两三四五六七八九十]+|[一二两三四五六七八九十]+(?=维| ·)")
_SCALES = {"thousand": 10**3, "million": 10**6, "billion": 10**9, "万": 10**4, "亿": 10**8}
# Names whose number the Chinese name leaves out (the WHO-China report calls the disease 新型冠状病毒肺炎).
NAMES_WITH_A_NUMBER = ("Coronavirus Disease 2019",)


def _values(pattern: re.Pattern, text: str) -> dict[Decimal, str]:
    """Each number of the text by its value, with how it is written."""
    return {Decimal(m[1].replace(",", "")) * _SCALES.get(m[2], 1): m[0] for m in pattern.finditer(text)}


def numbers_of_english(msgid: str) -> dict[Decimal, str]:
    text = prose(msgid)
    for name in NAMES_WITH_A_NUMBER:
        text = text.replace(name, " ")
    return _values(_ENGLISH_NUMBER, text)


def numbers_of_chinese(msgstr: str) -> set[Decimal]:
    digits = "零一二三四五六七八九"

    def value(numeral: str) -> int:  # 一 to 九十九
        tens, ten, ones = numeral.replace("两", "二").partition("十")
        if not ten:
            return digits.index(tens)
        return (digits.index(tens) if tens else 1) * 10 + (digits.index(ones) if ones else 0)
    text = prose(msgstr)
    return set(_values(_CHINESE_NUMBER, text)) | {Decimal(value(n)) for n in _CHINESE_NUMERAL.findall(text)}


def merged(template: Catalog, old: Catalog | None) -> Catalog:
    """The template's messages with the old catalog's translations (fuzzy where the English changed)."""
    if old is None:
        old = Catalog(locale=LANG)
    old.update(template, update_header_comment=False)
    old.obsolete.clear()  # git keeps the history; a stale translation lives on as a fuzzy suggestion
    return old


def generated_catalogs() -> dict[Path, Catalog]:
    """The catalogs of the pages tools/pages.py writes whole (study plan, status): every message and
    its translation come from there, so they are written from there, never merged or hand-edited."""
    generated, out = site_pages.translations(), {}
    for page in site_pages.GENERATED_PAGES:
        catalog = Catalog(locale=LANG, project="PyTorch in 20 Days")
        for english, chinese in generated[page].items():
            catalog.add(english, chinese)
        out[catalog_path(page)] = catalog
    return out


def stale_generated_catalogs() -> list[Path]:
    return [path for path, catalog in generated_catalogs().items() if not unchanged(path, catalog)]


def write_generated_catalogs() -> None:
    for path, catalog in generated_catalogs().items():
        write(catalog, path)


def update() -> dict[str, Catalog]:
    extract()
    write_generated_catalogs()
    generated = site_pages.translations()
    catalogs = {}
    for page in pages():
        if page in site_pages.GENERATED_PAGES:
            continue
        path = catalog_path(page)
        catalog = merged(read(TEMPLATES / f"{page}.pot"), read(path) if path.exists() else None)
        catalog.project, catalog.language_team = "PyTorch in 20 Days", "zh_CN"
        for message in catalog:
            if message.id and message.id in generated.get(page, {}):
                message.string = generated[page][message.id]
                message.flags.discard("fuzzy")
        catalogs[page] = catalog
    # A message translated on one page (a shared note, a heading) is translated on all of them.
    known = {m.id: m.string for c in catalogs.values() for m in c if m.id and m.string and not m.fuzzy}
    for page, catalog in catalogs.items():
        for message in catalog:
            if message.id and (not message.string or message.fuzzy) and message.id in known:
                message.string = known[message.id]
                message.flags.discard("fuzzy")
        write(catalog, catalog_path(page))
    for stale in set(CATALOGS.rglob("*.po")) - {catalog_path(p) for p in pages()}:
        stale.unlink()
        print(f"removed {stale.relative_to(ROOT)}: the page is no longer in the book")
    return catalogs


def share(page: str) -> tuple[int, int]:
    """(translated, total) messages of a page, against a fresh extraction of its English text."""
    template = read(TEMPLATES / f"{page}.pot")
    path = catalog_path(page)
    done = {m.id: m.string for m in read(path) if m.id and m.string and not m.fuzzy} if path.exists() else {}
    ids = [m.id for m in template if m.id and needs_translation(m.id)]
    return sum(1 for i in ids if i in done), len(ids)


def marked_done() -> list[str]:
    return yaml.safe_load((LOCALE / LANG / "pages.yml").read_text())["done"]


def excerpt(msgid: str) -> str:
    return f'msgid "{msgid[:70]}{"…" if len(msgid) > 70 else ""}"'


def translation_problems() -> list[str]:
    """Every problem of every translation the site would show, one line each: catalog, message, what."""
    found = []
    for page in pages():
        path = catalog_path(page)
        if path.exists():
            found += [f"{shown(path)}: {excerpt(m.id)}: {problem}"
                      for m in read(path) if m.id and m.string and not m.fuzzy for problem in problems(m.id, m.string)]
    return found


def report(check: bool) -> int:
    extract()
    done, failing = marked_done(), {}
    print(f"{'page':44} {'translated':>12}  share")
    for page in pages():
        n, total = share(page)
        fraction = n / total if total else 1.0
        print(f"{page:44} {n:5} / {total:<5} {fraction:6.1%}  {'done' if page in done else ''}")
        if page in done and n < total:
            failing[page] = total - n
    for page, missing in failing.items():
        print(f"{page} is marked done in locale/{LANG}/pages.yml, but {missing} of its messages are untranslated "
              f"or out of date (English changed): run `make translations`, then translate the empty and fuzzy "
              f"entries of {os.path.relpath(catalog_path(page), ROOT)}")
    unknown = sorted(set(done) - set(pages()))
    for page in unknown:
        print(f"locale/{LANG}/pages.yml names {page}, which is not a page of the book")
    wrong = translation_problems()
    if wrong:
        print(f"{len(wrong)} problems of translations to correct (the Chinese site refuses to build with a "
              "translation that changes structure):")
        print("\n".join(wrong))
    return 1 if check and (failing or unknown or wrong) else 0


# Directives whose body is prose (translated paragraph by paragraph), and those whose argument is a title.
PROSE_DIRECTIVES = {"admonition", "note", "tip", "hint", "important", "warning", "caution", "attention", "seealso",
                    "exercise", "solution", "dropdown", "figure", "margin", "sidebar", "topic"}
TITLED_DIRECTIVES = {"admonition", "exercise", "solution", "dropdown", "topic", "sidebar"}


@cache
def markdown_parser():
    """markdown-it configured as the site's MyST parser is (Jupyter Book's extensions)."""
    from jupyter_book.config import get_final_config
    from markdown_it.renderer import RendererHTML
    from myst_parser.config.main import MdParserConfig
    from myst_parser.parsers.mdit import create_md_parser

    config, _ = get_final_config(user_yaml=ROOT / "_config.yml", cli_config={"latex_individualpages": False},
                                 sourcedir=ROOT)
    return create_md_parser(MdParserConfig(enable_extensions=set(config["myst_enable_extensions"])), RendererHTML)


def message_of(content: str) -> str:
    """The message Sphinx extracts for a block of MyST source (its lines joined)."""
    return content.replace("\n", " ").strip()


def translate_markdown(source: str, translation: dict[str, str], used: set[str]) -> str:
    """The markdown with each paragraph, heading, list item, table cell and admonition title replaced
    by its translation where the catalog has one. Code, math, options and markup stay."""
    lines = source.split("\n")
    edits = []  # (first line, end line, new lines), applied bottom-up
    rows: dict[int, list[str]] = {}  # a table row's cells, as translated so far
    cell_of_row: dict[int, int] = {}
    tokens = markdown_parser().parse(source)
    for index, token in enumerate(tokens):
        if token.type == "inline" and tokens[index - 1].type in ("th_open", "td_open"):
            row = token.map[0]
            cells = rows.setdefault(row, re.split(r"(?<!\\)\|", lines[row]))
            cell_of_row[row] = cell_of_row.get(row, 0) + 1  # cells[0] is what precedes the first "|"
            msgid = message_of(token.content)
            if msgid in translation:
                used.add(msgid)
                cell = cells[cell_of_row[row]]
                cells[cell_of_row[row]] = cell.replace(token.content, translation[msgid], 1)
            continue
        if token.type in ("fence", "colon_fence") and token.map and token.info.startswith("{"):
            edits.append((*token.map, translate_directive(lines[token.map[0]:token.map[1]], token, translation, used)))
        elif token.type in ("math_block", "math_block_label") and token.map:
            # display math is a message too: its \text{...} labels have words. Sphinx keeps the newlines of a
            # block whose $$ stand on lines of their own, so its message may be the content unstripped.
            msgid = next((m for m in (token.content.strip(), token.content) if m in translation), None)
            if msgid is not None:
                used.add(msgid)
                edits.append((*token.map, "\n".join(lines[token.map[0]:token.map[1]]).replace(
                    msgid.strip(), translation[msgid].strip(), 1).split("\n")))
        elif token.type == "inline" and token.map:
            msgid = message_of(token.content)
            if msgid not in translation:
                continue
            used.add(msgid)
            first, end = token.map
            head = token.content.split("\n")[0]
            prefix = lines[first][: lines[first].index(head)]  # a list marker, "> ", "## ", indentation
            suffix = "" if "\n" in token.content else lines[first][lines[first].index(head) + len(head):]
            edits.append((first, end, [prefix + translation[msgid] + suffix]))
    edits += [(row, row + 1, ["|".join(cells)]) for row, cells in rows.items()]
    for first, end, new in sorted(edits, key=lambda e: e[0], reverse=True):
        lines[first:end] = new
    return "\n".join(lines)


def translate_directive(lines: list[str], token, translation: dict[str, str], used: set[str]) -> list[str]:
    """A ```{name} argument ... ``` block: its title and its prose body translated, its options kept."""
    name, _, argument = token.info[1:].partition("}")
    name, argument = name.strip(), argument.strip()
    opening, closing = lines[0], lines[-1]
    if name in TITLED_DIRECTIVES and argument in translation:
        used.add(argument)
        opening = opening.replace(argument, translation[argument], 1)
    if name not in PROSE_DIRECTIVES:
        return [opening, *lines[1:]]
    body = lines[1:-1]
    options = 0
    while options < len(body) and re.match(r"^:[\w-]+:", body[options]):
        options += 1
    text = translate_markdown("\n".join(body[options:]), translation, used)
    return [opening, *body[:options], *text.split("\n"), closing]


def translated_notebook(page: str) -> tuple[dict, set[str]]:
    """The Chinese notebook of a chapter: the English notebook (code, outputs, metadata) with its
    markdown cells translated from the catalog; and the messages that were used."""
    notebook = json.loads((ROOT / f"{page}.ipynb").read_text())
    translation = translation_of(page)
    used: set[str] = set()
    for cell in notebook["cells"]:
        if cell["cell_type"] == "markdown":
            source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            cell["source"] = translate_markdown(source, translation, used)
    notebook["metadata"].setdefault("pt20", {})["language"] = LANG
    return notebook, used


SITE = ROOT / "_build" / "html"
EDITION_DIR = "zh"  # where the Chinese site sits below the English one (_ext/pt20_site.py links the two)
SOURCE = ROOT / "_build" / "zh-source"  # the Chinese pages, from which Sphinx builds the Chinese site
TITLE = "20 天掌握 PyTorch"  # the Chinese edition's title (the front page's heading says the same)


def translation_of(page: str) -> dict[str, str]:
    """The translations of a page, refused whole if one of them cannot be put into the page."""
    path = catalog_path(page)
    translation = {m.id: m.string for m in read(path) if m.id and m.string and not m.fuzzy}
    refused = [f"{shown(path)}: {excerpt(msgid)}: {problem}"
               for msgid, msgstr in translation.items() for problem in placement_problems(msgid, msgstr)]
    if refused:
        raise CatalogError("translations that would change the page, not only its words (correct them, or empty "
                           "the msgstr to show the English):\n" + "\n".join(refused))
    return translation


def translated_page(page: str) -> tuple[str, set[str]]:
    """A markdown page of the book with its catalog's translations put in; and the messages used."""
    used: set[str] = set()
    return translate_markdown((ROOT / f"{page}.md").read_text(), translation_of(page), used), used


def unplaced(page: str, used: set[str]) -> list[str]:
    """Translated messages of a page that were not put into it: its English changed under them (run `make
    translations`), or the page holds them where the translation cannot reach. Either way the Chinese
    page would show English where the catalog says it is translated."""
    return [f"{shown(catalog_path(page))}: {excerpt(msgid)}: not placed in {page}"
            for msgid in sorted(set(translation_of(page)) - used)]


def write_source(source: Path) -> None:
    """The Chinese pages: each page of the English site with its catalog's translations put in.

    Why not Sphinx's own i18n (`language` + `locale_dirs`), which translates each paragraph while it
    reads the English page? MyST-NB parses a translated paragraph of a notebook as plain Markdown,
    without the notebook's glue data, so every glued number of a chapter would fail to render. Put
    into the notebook before Sphinx reads it, a translated paragraph is parsed like the English one.
    The code cells and outputs are the English notebook's: nothing executes twice."""
    tmp = source.with_name(source.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    problems = []
    for page in (p for p in pages() if not p.startswith("notebooks/")):
        path = tmp / f"{page}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        text, used = translated_page(page)
        problems += unplaced(page, used)
        path.write_text(text)
    written, used_by_page = write_notebooks(tmp / "notebooks")
    problems += [p for page, used in used_by_page.items() for p in unplaced(page, used)]
    if problems:  # every page of both kinds is checked before the site is built from them
        raise CatalogError("translations the Chinese site would not show:\n" + "\n".join(problems))
    for shared in ("_vendor", "book/scripts", "book/_notes"):  # static files, and files pages include
        (tmp / shared).parent.mkdir(parents=True, exist_ok=True)
        (tmp / shared).symlink_to(ROOT / shared)
    shutil.rmtree(source, ignore_errors=True)
    tmp.rename(source)


def html() -> int:
    """The Chinese site, into _build/html/zh: Chinese theme words, and search that segments Chinese
    text with jieba (Sphinx does when `language` is Chinese and jieba is installed)."""
    write_source(SOURCE)
    words = SOURCE / "search-words.txt"
    words.write_text("".join(f"{word}\n" for word in search_words()))
    return sphinx("html", SITE / EDITION_DIR, srcdir=SOURCE, language=LANG, html_title=TITLE,
                  html_search_options={"dict": str(words)})


def site() -> int:
    """Both editions: the English site into _build/html, then the Chinese one into _build/html/zh."""
    return sphinx("html", SITE) or html()


def search_words() -> list[str]:
    """The glossary's Chinese terms, as jieba's user dictionary: jieba's own dictionary splits terms
    such as 自动微分 into 自动 + 微分, and a reader searching for the term would find nothing."""
    terms = {zh for term in glossary() for zh in [term["zh"], *term.get("also", [])]}
    return sorted(t for t in terms if re.fullmatch(r"[\u4e00-\u9fff]{2,}", t))  # one line per word, no spaces


def write_notebooks(outdir: Path) -> tuple[list[Path], dict[str, set[str]]]:
    """Write every chapter's Chinese notebook into outdir; return the files and each page's placed messages."""
    written, used_by_page = [], {}
    for page in (p for p in pages() if p.startswith("notebooks/")):
        notebook, used_by_page[page] = translated_notebook(page)
        written.append(outdir / f"{Path(page).name}.ipynb")
        notebooks.write(nbformat.from_dict(notebook), written[-1])
    return written, used_by_page


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("update")
    sub.add_parser("share").add_argument("--check", action="store_true")
    sub.add_parser("pages").add_argument("--check", action="store_true")
    sub.add_parser("html")
    sub.add_parser("site")
    sub.add_parser("notebooks").add_argument("outdir", type=Path)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except CatalogError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


def run(args: argparse.Namespace) -> int:
    if args.command == "update":
        update()
        return report(check=False)
    if args.command == "pages":
        if args.check:
            for path in stale_generated_catalogs():
                print(f"{shown(path)} is out of date: run `make pages`")
            return 1 if stale_generated_catalogs() else 0
        write_generated_catalogs()
        return 0
    if args.command == "html":
        return html()
    if args.command == "site":
        return site()
    if args.command == "notebooks":
        for path in write_notebooks(args.outdir)[0]:
            print(f"wrote {path}")
        return 0
    return report(check=args.check)


if __name__ == "__main__":
    sys.exit(main())
