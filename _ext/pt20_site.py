"""Sphinx extension for the book's site (loaded through _config.yml `local_extensions`).

- Fails the build (a warning under -W) when an executed notebook holds an error output in a
  cell that is not tagged `raises-exception`: a broken chapter can never be published.
- Writes all executed notebooks into one zip next to the site's pages, for download.
- Shows the launch (Colab/Binder) and repository buttons only once `repository.url` in
  _config.yml names the repository the book is published from: before that they lead nowhere.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)
ZIP_NAME = "pytorch-in-20-days-notebooks.zip"


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


def zip_notebooks(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    notebooks = sorted(Path(app.srcdir, "notebooks").glob("*.ipynb"))
    with zipfile.ZipFile(Path(app.outdir) / ZIP_NAME, "w", zipfile.ZIP_DEFLATED) as archive:
        for nb in notebooks:
            archive.write(nb, f"pytorch-in-20-days/{nb.name}")


def setup(app: Sphinx) -> dict:
    app.connect("config-inited", buttons_follow_the_repository)
    app.connect("env-check-consistency", check_notebooks)
    app.connect("build-finished", zip_notebooks)
    app.connect("html-page-context", drop_thebe_and_duplicates, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
