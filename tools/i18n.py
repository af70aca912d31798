"""The Chinese edition: gettext catalogs of the one English source.

    python tools/i18n.py update          # extract the messages, merge them into locale/zh_CN/LC_MESSAGES
    python tools/i18n.py share [--check] # translated share per page; --check fails for a page marked
                                         # done (locale/zh_CN/pages.yml) that is below 100 %
    python tools/i18n.py html            # build the Chinese site into _build/html/zh
    python tools/i18n.py notebooks DIR   # write the Chinese notebooks (same code and outputs) into DIR

Every paragraph, heading, list item, table cell and display formula of a page is one message.
Sphinx's gettext builder extracts them (code cells and outputs are not messages: nothing executes
twice), and each page's translations live in a standard .po catalog. When an English paragraph
changes, its message changes: `update` keeps the old translation only as a fuzzy suggestion, the
Chinese page shows the English paragraph until someone reviews it, and `share --check` fails.

The Chinese site is built from the Chinese pages and notebooks that write_source() makes by
putting each catalog's translations into the English page (see there why).
The catalogs of the generated pages (study plan, status, and the chapters' title lines) are
written from tools/pages.py, which knows both languages' words for them.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
from functools import cache
from pathlib import Path

import nbformat
import yaml
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

import notebooks
import pages as site_pages

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


def sphinx(builder: str, outdir: Path, srcdir: Path = ROOT, **overrides) -> int:
    """Run Sphinx on the book the way `jupyter-book build` does, with its own doctrees."""
    from jupyter_book.sphinx import build_sphinx

    overrides = {"external_toc_path": str(ROOT / "_toc.yml"), "latex_individualpages": False, **overrides}
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


def read(path: Path) -> Catalog:
    with path.open("rb") as f:
        return read_po(f, locale=LANG)


def entries(catalog: Catalog) -> list[tuple]:
    return [(m.id, m.string, sorted(m.flags), m.previous_id) for m in catalog if m.id]


def write(catalog: Catalog, path: Path) -> None:
    """Atomically (a killed run leaves the old catalog, never half a new one), and only when a
    message changed: the header's dates alone are no reason for a diff."""
    for message in catalog:
        if not message.fuzzy:
            message.previous_id = []  # "#| msgid" lines only accompany a fuzzy suggestion
    if path.exists() and entries(read(path)) == entries(catalog):
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".po.tmp")
    with tmp.open("wb") as f:
        write_po(f, catalog, width=0, omit_header=False, include_previous=True)
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
    spans += _LINK.findall(text) + _FOOTNOTE.findall(text)
    return sorted(spans)


@cache
def glossary() -> list[dict]:
    return yaml.safe_load((LOCALE / LANG / "glossary.yml").read_text())


def problems(msgid: str, msgstr: str) -> list[str]:
    """Why a translation is not acceptable: lost or changed spans, or a glossary term not followed."""
    found = []
    want, got = carried_spans(msgid), carried_spans(msgstr)
    if want != got:
        missing = [s for s in want if s not in got]
        extra = [s for s in got if s not in want]
        found.append(f"code, math, roles and link targets must be kept as they are: missing {missing}, added {extra}")
    english, chinese = markdown_parser().render(msgid), markdown_parser().render(msgstr)
    for tag, name in (("<strong>", "bold"), ("<em>", "italic")):
        if english.count(tag) != chinese.count(tag):
            found.append(f"{name} text renders {english.count(tag)} times in the English, {chinese.count(tag)} in the "
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
    return [path for path, catalog in generated_catalogs().items()
            if not path.exists() or entries(read(path)) != entries(catalog)]


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
    return 1 if check and (failing or unknown) else 0


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
            msgid = token.content.strip()  # display math is a message too: its \text{...} labels have words
            if msgid in translation:
                used.add(msgid)
                edits.append((*token.map, "\n".join(lines[token.map[0]:token.map[1]]).replace(
                    msgid, translation[msgid], 1).split("\n")))
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
SOURCE = ROOT / "_build" / "zh-source"  # the Chinese pages, from which Sphinx builds the Chinese site
TITLE = "20 天掌握 PyTorch"  # the Chinese edition's title (the front page's heading says the same)


def translation_of(page: str) -> dict[str, str]:
    return {m.id: m.string for m in read(catalog_path(page)) if m.id and m.string and not m.fuzzy}


def write_source(source: Path) -> None:
    """The Chinese pages: each page of the English site with its catalog's translations put in.

    Why not Sphinx's own i18n (`language` + `locale_dirs`), which translates each paragraph while it
    reads the English page? MyST-NB parses a translated paragraph of a notebook as plain Markdown,
    without the notebook's glue data, so every glued number of a chapter would fail to render. Put
    into the notebook before Sphinx reads it, a translated paragraph is parsed like the English one.
    The code cells and outputs are the English notebook's: nothing executes twice."""
    tmp = source.with_name(source.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    for page in (p for p in pages() if not p.startswith("notebooks/")):
        path = tmp / f"{page}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(translate_markdown((ROOT / f"{page}.md").read_text(), translation_of(page), set()))
    write_notebooks(tmp / "notebooks")
    for shared in ("_vendor", "book/scripts", "book/_notes"):  # static files, and files pages include
        (tmp / shared).symlink_to(ROOT / shared)
    shutil.rmtree(source, ignore_errors=True)
    tmp.rename(source)


def html() -> int:
    """The Chinese site, into _build/html/zh: Chinese theme words, and search that segments Chinese
    text with jieba (Sphinx does when `language` is Chinese and jieba is installed)."""
    write_source(SOURCE)
    words = SOURCE / "search-words.txt"
    words.write_text("".join(f"{word}\n" for word in search_words()))
    return sphinx("html", SITE / "zh", srcdir=SOURCE, language=LANG, nitpicky=True, html_title=TITLE,
                  html_search_options={"dict": str(words)})


def search_words() -> list[str]:
    """The glossary's Chinese terms, as jieba's user dictionary: jieba's own dictionary splits terms
    such as 自动微分 into 自动 + 微分, and a reader searching for the term would find nothing."""
    terms = {zh for term in glossary() for zh in [term["zh"], *term.get("also", [])]}
    return sorted(t for t in terms if re.fullmatch(r"[\u4e00-\u9fff]{2,}", t))  # one line per word, no spaces


def write_notebooks(outdir: Path) -> list[Path]:
    """Write every chapter's Chinese notebook into outdir."""
    written = []
    for page in (p for p in pages() if p.startswith("notebooks/")):
        notebook, _ = translated_notebook(page)
        written.append(outdir / f"{Path(page).name}.ipynb")
        notebooks.write(nbformat.from_dict(notebook), written[-1])
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("update")
    sub.add_parser("share").add_argument("--check", action="store_true")
    sub.add_parser("html")
    sub.add_parser("notebooks").add_argument("outdir", type=Path)
    args = parser.parse_args(argv)
    if args.command == "update":
        update()
        return report(check=False)
    if args.command == "html":
        return html()
    if args.command == "notebooks":
        for path in write_notebooks(args.outdir):
            print(f"wrote {path}")
        return 0
    return report(check=args.check)


if __name__ == "__main__":
    sys.exit(main())
