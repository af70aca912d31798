"""Sphinx extension for the book's site (loaded through _config.yml `local_extensions`).

- Fails the build (a warning under -W) when an executed notebook holds an error output in a
  cell that is not tagged `raises-exception`: a broken chapter can never be published.
- Writes all executed notebooks (and the scripts they launch) into one zip next to the site's
  pages, for download.
- Shows the launch (Colab/Binder) and repository buttons only once `repository.url` in
  _config.yml names the repository the book is published from: before that they lead nowhere.
- Puts a language switch on every page: the English site (_build/html) and the Chinese one
  (_build/html/zh, built by tools/i18n.py with `language = zh_CN`) link each page to its twin.
- Words MyST-NB writes on a page itself, the toggle of a `hide-input` cell ("Show code cell
  source"), in the page's language.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from docutils import nodes
from myst_nb.sphinx_ import HideCodeCellNode
from sphinx.application import Sphinx
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util import logging

logger = logging.getLogger(__name__)
ZIP_NAME = "pytorch-in-20-days-notebooks.zip"
TEMPLATES = Path(__file__).parent / "templates"
# Each edition: where it sits below the English site's root, and the words of its switch and footer.
EDITIONS = {
    "en": {"dir": "", "lang": "en", "label": "English", "title": "Read this page in English",
           "footer": "Every output on these pages was produced by executing the notebook; CI re-runs them all."},
    "zh_CN": {"dir": "zh/", "lang": "zh-CN", "label": "中文", "title": "阅读本页的中文版",
              "footer": "本站的每一个输出都由执行 notebook 得到；CI 会重新运行全部章节。",
              # MyST-NB's toggle of a hidden cell: its `nb_code_prompt_show`/`_hide` ("Show code cell
              # {type}") with {type} filled in by MyST-NB in English, so the words are replaced whole
              "show": "显示{type}", "hide": "隐藏{type}",
              "types": {"content": "单元格", "source": "代码", "output": "输出", "outputs": "输出"}},
}


def edition(config: object) -> str:
    return "zh_CN" if str(config.language or "en").startswith("zh") else "en"


def check_notebooks(app: Sphinx, env: object) -> None:
    for doc in sorted(app.env.found_docs):
        source = Path(app.env.doc2path(doc))
        if source.suffix != ".ipynb":
            continue
        for index, cell in enumerate(json.loads(source.read_text())["cells"]):
            tags = cell.get("metadata", {}).get("tags", [])
            errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
            if errors and "raises-exception" not in tags:
                logger.warning(f"{source.name}: cell {index} raised {errors[0].get('ename')}: "
                               "fix the chapter or tag the cell raises-exception", type="pt20", subtype="error")


def drop_thebe_and_duplicates(app: Sphinx, pagename: str, templatename: str, context: dict, doctree: object) -> None:
    """Keep each script once and drop the live-code (thebe) loader, which points at a CDN.

    Jupyter Book registers sphinx-thebe and sphinx-togglebutton, whose inline scripts end up on
    the page twice (a console error); thebe is switched off in _config.yml anyway.
    """
    seen, kept = set(), []
    for script in context.get("script_files", []):
        key = (str(script), script.attributes.get("body", "") if hasattr(script, "attributes") else "")
        if key in seen or "thebe" in key[0] or "THEBE_JS_URL" in key[1]:
            continue
        seen.add(key)
        kept.append(script)
    context["script_files"] = kept


def buttons_follow_the_repository(app: Sphinx, config: object) -> None:
    options = config.html_theme_options
    published = bool(options.get("repository_url"))
    options["use_repository_button"] = published
    if not published:
        options.pop("launch_buttons", None)


def language_switch(app: Sphinx, config: object) -> None:
    """The switch sits first among the buttons at the top of every page; the footer speaks the
    page's language."""
    options = config.html_theme_options
    options["article_header_end"] = ["language-switch.html", "article-header-buttons.html"]
    options["extra_footer"] = EDITIONS[edition(config)]["footer"]
    config.templates_path = [*config.templates_path, str(TEMPLATES)]


def link_the_other_edition(app: Sphinx, pagename: str, templatename: str, context: dict, doctree: object) -> None:
    here = edition(app.config)
    other = "zh_CN" if here == "en" else "en"
    # from this page up to its edition's root, up to the English root, then down into the other edition
    to_root = "../" * pagename.count("/") + ("../" if EDITIONS[here]["dir"] else "")
    url = f"{to_root}{EDITIONS[other]['dir']}{pagename}.html"
    context["pt20_language_switch"] = {**EDITIONS[other], "url": url}
    context["metatags"] = context.get("metatags", "") + \
        f'\n<link rel="alternate" hreflang="{EDITIONS[other]["lang"]}" href="{url}" />'


def code_prompts(config: object) -> dict[str, str]:
    """The edition's words for each prompt MyST-NB can write above a hidden cell part, keyed by
    MyST-NB's English (the book's `nb_code_prompt_show`/`_hide` with each {type} filled in)."""
    words = EDITIONS[edition(config)]
    if "types" not in words:
        return {}
    return {english.replace("{type}", kind): words[verb].format(type=translated)
            for verb, english in (("show", config.nb_code_prompt_show), ("hide", config.nb_code_prompt_hide))
            for kind, translated in words["types"].items()}


def translate_code_prompts(doctree: nodes.Node, config: object) -> None:
    prompts = code_prompts(config)
    for toggle in doctree.findall(HideCodeCellNode):
        for key in ("prompt_show", "prompt_hide"):
            toggle[key] = prompts.get(toggle[key], toggle[key])


class CodePromptsInThePageLanguage(SphinxPostTransform):
    """Runs after MyST-NB's HideInputCells (priority 199), which writes the prompts into the page."""

    default_priority = 200
    formats = ("html",)

    def run(self, **kwargs) -> None:
        translate_code_prompts(self.document, self.config)


def zip_notebooks(app: Sphinx, exception: Exception | None) -> None:
    """Each edition's notebooks (the Chinese site is built from the Chinese notebooks)."""
    if exception is not None or app.builder.format != "html":
        return
    files = {nb.name: nb.read_bytes() for nb in sorted(Path(app.srcdir, "notebooks").glob("*.ipynb"))}
    # the scripts chapters launch (6-3's DDP script), where a notebook run from the zip looks for them
    files |= {f"scripts/{s.name}": s.read_bytes() for s in sorted(Path(app.srcdir, "book", "scripts").glob("*.py"))}
    write_zip(files, Path(app.outdir) / ZIP_NAME)


def write_zip(files: dict[str, bytes], path: Path) -> None:
    """Atomically, so a killed build never leaves half a zip for readers to download."""
    tmp = path.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(f"pytorch-in-20-days/{name}", content)
    tmp.replace(path)


def setup(app: Sphinx) -> dict:
    app.connect("config-inited", buttons_follow_the_repository)
    app.connect("config-inited", language_switch)
    app.connect("html-page-context", link_the_other_edition)
    app.connect("env-check-consistency", check_notebooks)
    app.connect("build-finished", zip_notebooks)
    app.connect("html-page-context", drop_thebe_and_duplicates, priority=900)
    app.add_post_transform(CodePromptsInThePageLanguage)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
