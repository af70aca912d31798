"""The book's structure: md/ipynb pairing, chapter shape, forbidden patterns, generated pages."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from pt20 import book as book_model
from tools import notebooks, pages

ROOT = Path(__file__).resolve().parents[1]

CHAPTERS = notebooks.chapters()
BOOK = book_model.load()
PLAN = BOOK.chapters
ids = [md.stem for md in CHAPTERS]

BANNED = {
    r"\.cuda\(\)": "bare .cuda(): pick the device once and use .to(device)",
    r"^\s*(import|from)\s+(torchtext|torchkeras)": "the book uses neither torchtext nor torchkeras",
    r"^\s*!pip|%pip": "no install cells",
    r"download\s*=\s*True": "no run-time downloads: use pt20.data",
    r"torch\.load\((?![^)]*weights_only=True)": "torch.load without weights_only=True",
    r"\.append\(\s*df|DataFrame\.append": "DataFrame.append is gone: use pd.concat",
    r"torch\.(eig|qr|svd|symeig)\(": "use torch.linalg",
    r"\.data\s*[-+*/]?=": "update parameters under torch.no_grad(), not through .data",
    r"shared/data": "chapters read data through pt20.data, never from the mirror",
    r"tqdm\.(auto|notebook)": "text-mode tqdm only",
}


def chapter_code(md: Path) -> list:
    """The chapter's own code cells as the pipeline reads them (the generated Colab cell left out)."""
    return [c for c in notebooks.without_colab(notebooks.from_markdown(md).cells) if c.cell_type == "code"]


def test_every_planned_chapter_has_a_source() -> None:
    planned = {c.file for c in PLAN}
    assert {md.stem for md in CHAPTERS} <= planned, "a chapter file is missing from book/chapters.yml"
    missing = sorted(planned - {md.stem for md in CHAPTERS})
    assert not missing, f"rows of book/chapters.yml without a chapter: {missing} (`make new-chapter` writes both)"


def test_notebooks_match_their_sources() -> None:
    problems = [p for md in CHAPTERS for p in notebooks.drift(md)]
    assert not problems, "\n".join(problems)


def test_drift_is_detected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    md = CHAPTERS[0]
    copy = tmp_path / "book" / md.name
    shutil.copytree(ROOT / "book" / "_notes", copy.parent / "_notes")  # the shared notes it includes
    copy.write_text(md.read_text().replace("## Summary", "## Summary\n\nAn edit that never reached the notebook.", 1))
    monkeypatch.setattr(notebooks, "NOTEBOOKS", ROOT / "notebooks")
    assert notebooks.drift(copy), "an edited md must be reported as drift"


@pytest.mark.parametrize("md", CHAPTERS, ids=ids)
def test_chapter_shape(md: Path) -> None:
    text = md.read_text()
    plan = BOOK.chapter(md.stem)
    assert re.search(rf"^# Day {plan.day} · {re.escape(plan.id)} ", text, re.M), "title '# Day N · X-Y ...'"
    for head in ("## What you will learn", "## Summary", "## Exercises", "## Self-check"):
        assert head in text, f"missing section {head!r}"
    assert text.index("## Summary") < text.index("## Exercises") < text.index("## Self-check")
    code = chapter_code(md)
    assert "seed_everything(" in code[0].source, "the first code cell seeds everything"
    last = code[-1].source
    assert "assert" in last and "pt20.report(" in last, "the last code cell is the self-check"
    assert f'pt20.report("{plan.id}"' in last and f"{plan.metric}=" in last, \
        f"the self-check reports the headline metric {plan.metric!r} named in book/chapters.yml"
    exercises = re.findall(r"```\{solution-start\}", text)
    assert 2 <= len(exercises) <= 4, f"{len(exercises)} exercises (want 2-4)"


@pytest.mark.parametrize("md", CHAPTERS, ids=ids)
def test_solutions_end_in_an_assert(md: Path) -> None:
    blocks = re.findall(r"```\{solution-start\}.*?```\{solution-end\}", md.read_text(), re.S)
    for block in blocks:
        cells = re.findall(r"```\{code-cell\}[^\n]*\n(.*?)\n```", block, re.S)
        assert cells, "a solution must be an executed code cell"
        lines = [ln for ln in cells[-1].splitlines() if ln.strip() and not ln.strip().startswith(("#", ":"))]
        ends_in_assert = any(ln.lstrip().startswith("assert") for ln in lines[-4:])
        assert ends_in_assert, f"solution does not end in an assert:\n{block}"


@pytest.mark.parametrize("md", CHAPTERS, ids=ids)
def test_no_forbidden_patterns(md: Path) -> None:
    """The rules bind the code; prose may name an old API to warn against it."""
    code = "\n".join(c.source for c in chapter_code(md))
    found = [why for pattern, why in BANNED.items() if re.search(pattern, code, re.M)]
    assert not found, found


@pytest.mark.parametrize("md", CHAPTERS, ids=ids)
def test_ignored_outputs_are_few_and_explained(md: Path) -> None:
    code = chapter_code(md)
    ignored = [c for c in code if "nbval-ignore-output" in c.metadata.get("tags", [])]
    for cell in ignored:
        first = cell.source.lstrip().splitlines()[0]
        assert first.startswith("# nbval-ignore-output:") and len(first) > 30, f"no reason given:\n{cell.source}"
    assert len(ignored) <= max(2, len(code) // 4), f"{len(ignored)} of {len(code)} cells ignored by nbval"


@pytest.mark.parametrize("md", CHAPTERS, ids=ids)
def test_committed_notebook_is_executed_and_error_free(md: Path) -> None:
    nb = nbformat.read(notebooks.notebook_path(md), as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code), "every code cell carries its golden output"
    for cell in code:
        errors = [o for o in cell.outputs if o.output_type == "error"]
        if "raises-exception" not in cell.metadata.get("tags", []):
            assert not errors, f"unexpected error in:\n{cell.source}"
        warnings = [o for o in cell.outputs if o.output_type == "stream" and o.name == "stderr"
                    and re.search(r"Warning\b", o.text)]
        assert not warnings, f"a warning leaked into the page:\n{warnings[0].text}"
    assert "pt20" in nb.metadata and nb.metadata["pt20"]["wall_s"] > 0, "provenance of the golden outputs"


def test_generated_pages_are_up_to_date() -> None:
    assert not pages.stale(), "run `make pages`"
    for check in ([sys.executable, "-m", "tools.pages", "--check"], [sys.executable, "-m", "tools.i18n", "pages",
                                                                       "--check"]):
        result = subprocess.run(check, capture_output=True, text=True, cwd=ROOT)
        assert result.returncode == 0, result.stdout + result.stderr


def test_study_plan_lists_every_day_of_the_table() -> None:
    plan = (ROOT / "book" / "study-plan.md").read_text()
    for c in PLAN:
        assert f"| {c.day} | [{c.id} " in plan
    assert f"{BOOK.days} days, one chapter a day" in plan


def test_toc_holds_every_executed_chapter() -> None:
    toc = (ROOT / "_toc.yml").read_text()
    for md in CHAPTERS:
        assert f"notebooks/{md.stem}" in toc


def test_budgets_are_respected_by_the_golden_run() -> None:
    over = []
    for c in PLAN:
        wall = json.loads((ROOT / "notebooks" / f"{c.file}.ipynb").read_text())["metadata"]["pt20"]["wall_s"]
        if wall > c.budget_s * 1.5:  # golden runs can share the machine; bench measures properly
            over.append(f"{c.id}: {wall} s > 1.5 x {c.budget_s} s")
    assert not over, over


def _config_paths(config: dict) -> list[str]:
    """Every file or folder of the repository that _config.yml tells Sphinx to read."""
    sphinx = config["sphinx"]
    paths = list(sphinx.get("local_extensions", {}).values())
    for key in ("html_static_path", "html_extra_path", "templates_path"):
        paths += sphinx["config"].get(key, [])
    paths += [sphinx["config"][key] for key in ("html_favicon", "html_logo") if key in sphinx["config"]]
    return paths


def test_site_config_names_only_committed_paths() -> None:
    # CI builds from a clean clone: a folder that exists only in a working tree (empty folders
    # are not committed) turns into a build warning there, and -W fails the site.
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    tracked_files = set(tracked.splitlines())
    missing = [p for p in _config_paths(config)
               if p not in tracked_files and not any(f.startswith(p.rstrip("/") + "/") for f in tracked_files)]
    assert _config_paths(config), "the config names no paths: the test lost its subject"
    assert not missing, f"_config.yml names paths that a clean checkout lacks: {missing}"


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        if "==" in line and not line.lstrip().startswith("#"):
            name, version = line.split("#")[0].strip().split("==")
            pins[name.lower().replace("_", "-")] = version
    return pins


def test_requirements_agree_with_the_lock() -> None:
    wanted, locked = _pins(ROOT / "requirements.txt"), _pins(ROOT / "constraints.txt")
    assert "-c constraints.txt" in (ROOT / "requirements.txt").read_text()
    disagree = {name: (version, locked.get(name)) for name, version in wanted.items() if locked.get(name) != version}
    assert not disagree, f"requirements.txt vs constraints.txt (run `make lock` after `make install`): {disagree}"


GLUE_ROLE = re.compile(r"\{glue(?::\w+)?\}`([^`:]+)")  # {glue}`name`, {glue:text}`name:.4f`
GLUE_DIRECTIVE = re.compile(r"^```\{glue(?::\w+)?\}\s+(\S+)", re.M)  # ```{glue:figure} name


def glued_names(nb: nbformat.NotebookNode) -> set[str]:
    """Names that the notebook's executed cells glued (MyST-NB stores them in the output metadata)."""
    return {out.get("metadata", {}).get("scrapbook", {}).get("name") for cell in nb.cells
            for out in cell.get("outputs", [])} - {None}


def glue_references(text: str) -> set[str]:
    return {name.strip() for name in GLUE_ROLE.findall(text) + GLUE_DIRECTIVE.findall(text)}


@pytest.mark.parametrize("md", CHAPTERS, ids=ids)
def test_every_glued_figure_in_the_prose_was_computed_by_the_run(md: Path) -> None:
    missing = glue_references(md.read_text()) - glued_names(nbformat.read(notebooks.notebook_path(md), as_version=4))
    assert not missing, f"the prose cites numbers that no cell glued: {sorted(missing)}"


def test_a_glue_reference_without_a_glued_value_is_caught() -> None:
    text = "Accuracy {glue:text}`acc:.3f` and {glue}`lost` and\n```{glue:figure} curve\n```\n"
    assert glue_references(text) == {"acc", "lost", "curve"}
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("glue('acc', 0.9, display=False)")
    cell.outputs = [nbformat.v4.new_output("display_data", data={"text/plain": "0.9"},
                                           metadata={"scrapbook": {"name": "acc", "mime_prefix": ""}})]
    nb.cells.append(cell)
    assert glue_references(text) - glued_names(nb) == {"lost", "curve"}


def test_the_colab_install_cell_exists_only_for_a_published_book(monkeypatch: pytest.MonkeyPatch) -> None:
    md = CHAPTERS[0]
    monkeypatch.setattr(notebooks, "repository_url", lambda: "")
    assert not any(notebooks.COLAB_TAG in c.metadata.get("tags", []) for c in notebooks.from_markdown(md).cells)
    monkeypatch.setattr(notebooks, "repository_url", lambda: "https://github.com/someone/pytorch-in-20-days")
    first = notebooks.from_markdown(md).cells[0]
    assert notebooks.COLAB_TAG in first.metadata["tags"] and "git+https://github.com/someone/" in first.source


def test_launch_buttons_appear_only_for_a_published_book() -> None:
    from _ext import pt20_site

    def theme_options(url: str) -> dict:
        config = type("Config", (), {})()
        config.html_theme_options = {"repository_url": url, "launch_buttons": {"colab_url": "https://colab"}}
        pt20_site.buttons_follow_the_repository(None, config)
        return config.html_theme_options

    assert theme_options("") == {"repository_url": "", "use_repository_button": False}
    published = theme_options("https://github.com/someone/pytorch-in-20-days")
    assert published["use_repository_button"] and published["launch_buttons"]


def title_and_breadcrumb(chapter: book_model.Chapter) -> tuple[str, str]:
    """What book/chapters.yml says a chapter's first two lines must be (tools/pages.py words them)."""
    return f"# {pages.heading(chapter)}", f"> {pages.breadcrumb(chapter)}"


@pytest.mark.parametrize("md", CHAPTERS, ids=ids)
def test_title_and_breadcrumb_agree_with_the_plan(md: Path) -> None:
    title, breadcrumb = title_and_breadcrumb(BOOK.chapter(md.stem))
    lines = [ln for ln in md.read_text().splitlines() if ln.startswith(("# Day", "> Day"))]
    assert [ln.replace("`", "") for ln in lines[:2]] == [title, breadcrumb], \
        "edit book/chapters.yml and the chapter's first lines together"


def test_an_include_is_expanded_into_the_notebook(tmp_path: Path) -> None:
    (tmp_path / "_notes").mkdir()
    (tmp_path / "_notes" / "note.md").write_text("A shared note.\n")
    md = tmp_path / "9-9-demo.md"
    md.write_text("# Demo\n\nBefore.\n\n```{include} _notes/note.md\n```\n\nAfter.\n")
    text = notebooks.from_markdown(md).cells[-1].source
    assert "A shared note." in text and "{include}" not in text
    md.write_text("# Demo\n\n```{include} _notes/missing.md\n```\n")
    with pytest.raises(SystemExit, match="missing.md"):
        notebooks.from_markdown(md)


def test_every_chapter_names_its_headline_in_a_readers_words() -> None:
    unlabelled = [c.id for c in PLAN if not c.label.strip() or not c.label_zh.strip()]
    assert not unlabelled, f"book/chapters.yml: give these chapters a label for the status page: {unlabelled}"


def test_status_page_prints_results_in_words() -> None:
    assert pages.headline(BOOK.chapter("4-3"), {"metric_value": "40625"}) == "TextCNN parameters: 40625 · exact, " \
        "asserted by the self-check"
    seeds = {"metric_value": "35", "seeds": "3", "seeds_meeting_target": "3"}
    assert pages.headline(BOOK.chapter("4-1"), seeds) == "tensor-structure checks: all 35 passed"


@pytest.mark.parametrize("md", CHAPTERS, ids=ids)
def test_glued_values_are_plain_numbers_the_site_can_format(md: Path) -> None:
    # MyST-NB formats {glue:text}`x:.4f` from the value's repr: "np.float64(0.98)" fails the site build.
    nb = nbformat.read(notebooks.notebook_path(md), as_version=4)
    bad = [out["metadata"]["scrapbook"]["name"] for cell in nb.cells for out in cell.get("outputs", [])
           if "scrapbook" in out.get("metadata", {})
           and out["data"].get("application/papermill.record/text/plain", "").startswith(("np.", "tensor(", "array("))]
    assert not bad, f"glue float(value) for: {bad}"


# A glued string is pasted into the prose of both editions, so it must read the same in Chinese:
# a number, a date, a dash, an identifier. Words belong in the prose, where they are translated.
QUOTED_OUTPUTS = {"ran_on": "the output of pt20.device.describe, quoted like any printed output",
                  "top_group": "a row label (Sex, Pclass) of the table printed beside it",
                  "bottom_group": "a row label (Sex, Pclass) of the table printed beside it",
                  "compile_backend": "a torch.compile backend name (inductor or aot_eager), an identifier"}


@pytest.mark.parametrize("md", CHAPTERS, ids=ids)
def test_glued_text_reads_the_same_in_both_editions(md: Path) -> None:
    nb = nbformat.read(notebooks.notebook_path(md), as_version=4)
    worded = {out["metadata"]["scrapbook"]["name"]: value for cell in nb.cells for out in cell.get("outputs", [])
              if "scrapbook" in out.get("metadata", {})
              for value in [out["data"].get("application/papermill.record/text/plain", "")]
              if value[:1] in "'\"" and re.search(r"\b[A-Za-z]*[a-z]{2,}\b", value)}
    worded = {k: v for k, v in worded.items() if k not in QUOTED_OUTPUTS}
    assert not worded, f"glued English words would appear untranslated on the Chinese page: {worded}"


# ---- The status page's headline lines (tools/pages.py words them; pt20/book.py says what a target means)

BY_ID = {c.id: c for c in PLAN}
THREE_SEEDS = {"seeds": "3", "seeds_meeting_target": "3"}


def _nesting(text: str) -> int:
    depth = deepest = 0
    for char in text:
        depth += char in "(（"
        deepest = max(deepest, depth)
        depth -= char in ")）"
    return deepest


@pytest.mark.parametrize("lang", ["en", "zh_CN"])
def test_status_lines_never_nest_parentheses(lang: str) -> None:
    for c in PLAN:
        for value in ("52", "0.5000"):  # a line for a target met and one for a target missed
            line = pages.headline(c, {"metric_value": value, **THREE_SEEDS}, lang)
            assert _nesting(line) <= 1, f"{c.id}: {line}"


def test_a_range_target_reads_plainly_in_both_languages() -> None:
    row = {"metric_value": "52", **THREE_SEEDS}
    assert pages.headline(BY_ID["1-4"], row) == "first day forecast with zero new cases (day index): 52 · " \
        "target 46–96, Mar 11–Apr 30 · 3/3 seeds meet it"
    assert pages.headline(BY_ID["1-4"], row, "zh_CN") == "预测新增病例为零的第一天（天序号）：52 · " \
        "目标 46–96，3 月 11 日至 4 月 30 日 · 3 个随机种子中 3 个达标"


def test_exact_facts_make_no_seed_claim() -> None:
    # a parameter count or a count of asserted checks is the same for every seed: "3/3 seeds" says nothing
    params, facts = {"metric_value": "40625", **THREE_SEEDS}, {"metric_value": "17", **THREE_SEEDS}
    assert pages.headline(BY_ID["4-3"], params) == "TextCNN parameters: 40625 · exact, asserted by the self-check"
    assert pages.headline(BY_ID["4-3"], params, "zh_CN") == "TextCNN 参数量：40625 · 精确值，由自检断言"
    assert pages.headline(BY_ID["2-1"], facts) == "tensor facts: all 17 passed"
    assert pages.headline(BY_ID["2-1"], facts, "zh_CN") == "张量事实：17 项全部通过"
    # a measurement keeps its seed study, and its target says it is a minimum
    assert pages.headline(BY_ID["1-1"], {"metric_value": "0.8268", **THREE_SEEDS}) == \
        "Titanic test accuracy: 0.8268 · target ≥ 0.8 · 3/3 seeds meet it"


def test_a_missed_target_and_a_missing_headline_are_visible(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    low = {"metric_value": "0.7900", "seeds": "3", "seeds_meeting_target": "1"}
    assert pages.headline(BY_ID["1-1"], low) == \
        "Titanic test accuracy: 0.7900 · target ≥ 0.8 · misses the target · 1/3 seeds meet it"
    assert pages.headline(BY_ID["4-3"], {"metric_value": "40624"}) == \
        "TextCNN parameters: 40624 · target exactly 40625 · misses the target"
    assert pages.headline(BY_ID["4-3"], {"metric_value": "40624"}, "zh_CN") == \
        "TextCNN 参数量：40624 · 目标恰为 40625 · 未达到目标"
    results = tmp_path / "results.csv"
    results.write_text("chapter,metric_name,metric_value\n2-2-autograd,sgd_x,\n")
    monkeypatch.setattr(pages, "RESULTS", results)
    row = next(line for line in pages.status(pages.load()).splitlines() if line.startswith("| [2-2]"))
    assert "x after 500 SGD steps: missing from the latest bench run" in row
