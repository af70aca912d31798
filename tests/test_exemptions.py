"""What the golden record may leave unchecked (issue 22, items 15 and 16).

Every exemption from the comparison has a reason and a limit, none covers a self-check or an
exercise solution, nothing the reader is told rides only in an unchecked cell, and each self-check
asserts its chapter's headline target from book/chapters.yml (not a weaker one).
"""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path

import nbformat
import pytest
from nbval.plugin import find_comment_markers, metadata_tags

from pt20 import book as book_model
from tools import nbcompare, notebooks

ROOT = Path(__file__).resolve().parents[1]

CHAPTERS = notebooks.chapters()
ids = [md.stem for md in CHAPTERS]
BOOK = book_model.load()

IGNORE, VARIES, RAISES = nbcompare.IGNORE_TAG, nbcompare.VARIES_TAG, "raises-exception"
EXEMPTIONS = (IGNORE, VARIES, RAISES)
# nbval's own switches: only these two of its tags are part of the book's rules (CONTRIBUTING §4)
NBVAL_TAGS_ALLOWED = {IGNORE, RAISES}


def code_cells(md: Path) -> list[tuple[nbformat.NotebookNode, bool]]:
    """(code cell, whether it is part of an exercise solution) for the chapter's own cells."""
    cells, in_solution = [], False
    for cell in notebooks.without_colab(notebooks.from_markdown(md).cells):
        if cell.cell_type == "markdown":
            in_solution = "{solution-start}" in cell.source or (in_solution and "{solution-end}" not in cell.source)
        elif cell.cell_type == "code":
            cells.append((cell, in_solution))
    return cells


def tags(cell: nbformat.NotebookNode) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def golden(md: Path) -> nbformat.NotebookNode:
    return nbformat.read(notebooks.notebook_path(md), as_version=4)


# --- item 15: escape hatches ------------------------------------------------------------------

@pytest.mark.parametrize("md", CHAPTERS, ids=ids)
def test_no_nbval_switch_outside_the_books_tags(md: Path) -> None:
    # `# NBVAL_IGNORE_OUTPUT` or `# NBVAL_SKIP` in a cell's source would silently exempt it from nbval
    sources = [cell for cell, _ in code_cells(md)] + [c for c in golden(md).cells if c.cell_type == "code"]
    markers = sorted({f"{dict(find_comment_markers(c.source))} in: {c.source.splitlines()[0][:60]}"
                      for c in sources if dict(find_comment_markers(c.source))})
    assert not markers, f"nbval comment markers are not allowed: {markers}"
    switches = sorted({t for c in sources for t in tags(c) if t in metadata_tags and t not in NBVAL_TAGS_ALLOWED})
    assert not switches, f"nbval tags other than {sorted(NBVAL_TAGS_ALLOWED)} are not allowed: {switches}"


def test_an_nbval_marker_is_caught() -> None:
    assert dict(find_comment_markers("x = 1\n# NBVAL_SKIP\n")) and dict(find_comment_markers("  #NBVAL_IGNORE_OUTPUT"))
    assert "nbval-skip" in metadata_tags and "nbval-skip" not in NBVAL_TAGS_ALLOWED


@pytest.mark.parametrize("md", CHAPTERS, ids=ids)
def test_self_checks_and_solutions_are_never_exempt(md: Path) -> None:
    cells = code_cells(md)
    bound = [(cell, "the self-check") for cell, _ in cells[-1:]] + [(c, "an exercise solution") for c, s in cells if s]
    exempt = [f"{what} is tagged {[t for t in tags(cell) if t in EXEMPTIONS]}: {cell.source.splitlines()[0][:70]}"
              for cell, what in bound if set(tags(cell)) & set(EXEMPTIONS)]
    assert not exempt, exempt


@pytest.mark.parametrize("md", CHAPTERS, ids=ids)
def test_varying_cells_are_explained_and_exemptions_are_few(md: Path) -> None:
    cells = [cell for cell, _ in code_cells(md)]
    varying = [c for c in cells if VARIES in tags(c)]
    unexplained = [c.source.splitlines()[0][:70] for c in varying
                   if not re.match(rf"# {VARIES}: .{{20,}}", c.source.lstrip().splitlines()[0])]
    assert not unexplained, f"start each {VARIES} cell with '# {VARIES}: <why>': {unexplained}"
    exempt = [c for c in cells if {IGNORE, VARIES} & set(tags(c))]
    assert len(exempt) <= max(2, len(cells) // 4), \
        f"{len(exempt)} of {len(cells)} code cells exempt from the exact or the approximate comparison"


@pytest.mark.parametrize("md", CHAPTERS, ids=ids)
def test_only_a_cell_tagged_to_raise_raises_and_never_an_assert(md: Path) -> None:
    for cell in golden(md).cells:
        if cell.cell_type != "code":
            continue
        errors = [o for o in cell.outputs if o.output_type == "error"]
        if RAISES not in tags(cell):
            assert not errors, f"unexpected error {errors[0].ename} in:\n{cell.source}"
            continue
        # a failing check stored as the expected error would pass every comparison
        assert errors, f"a cell tagged {RAISES} must raise (the golden record holds no error):\n{cell.source}"
        assert errors[0].ename != "AssertionError" and not re.search(r"^\s*assert\b", cell.source, re.M), \
            f"a cell tagged {RAISES} shows an error on purpose; it holds no check:\n{cell.source}"


WORD = re.compile(r"(?<![\w.])[A-Za-z_]*\d\w*(?![\w.])|(?<![\w.])\d+(?![\w.])")
# a number with one of these after it is a measurement of this run or the machine's description
# (pt20.device.describe: "cpu (x86_64, 2 threads)"), which an ignored cell may show
TIME_WORD = r"\d\s*(?:s|ms|us|µs|ns|min)\b|\bseconds?\b"
MEASURED = re.compile(r"\s*(?:s|ms|us|µs|ns|min|seconds|threads)\b")


def unchecked_facts(nb: nbformat.NotebookNode, code: list[nbformat.NotebookNode]) -> list[str]:
    """Facts a reader sees that come only from cells exempt from nbval: an integer an ignored cell
    printed (not a measurement, not written in its own source) or a glued value that is not a measured
    float, unless an assert of the chapter holds it. (Finding the same number in some checked
    output is not enough: 5-1's 313 batches of a timed loader equal, by chance, those of another.)"""
    asserted = set(WORD.findall("\n".join(line for c in code for line in c.source.splitlines()
                                          if line.lstrip().startswith("assert"))))
    found = []
    for cell in nb.cells:
        if cell.cell_type != "code" or IGNORE not in tags(cell):
            continue
        own = set(WORD.findall(cell.source)) | asserted
        printed = "".join(o.text for o in cell.outputs if o.output_type == "stream")
        for m in re.finditer(r"(?<![\w.])\d+(?![\w.])", printed):
            if not MEASURED.match(printed, m.end()) and m[0] not in own:
                found.append(f"{m[0]!r} printed by an ignored cell: {printed[max(0, m.start() - 30):m.end() + 20]!r}")
        # a result (an accuracy) printed by an ignored cell: a fraction on a line that names no unit of time
        found += [f"{line.strip()[:70]!r} printed by an ignored cell names no unit of time"
                  for line in printed.splitlines() if re.search(r"\d\.\d", line) and not re.search(TIME_WORD, line)]
        for out in cell.outputs:
            name = out.get("metadata", {}).get("scrapbook", {}).get("name")
            value = out.get("data", {}).get("application/papermill.record/text/plain", "").strip("'\"")
            measured = re.fullmatch(r"-?\d+\.\d*(?:e-?\d+)?|-?\d+(?:\.\d*)?e-?\d+", value)
            if name and not measured and value not in asserted:
                found.append(f"glue {name!r} = {value!r} in an ignored cell")
    return found


@pytest.mark.parametrize("md", CHAPTERS, ids=ids)
def test_what_the_reader_is_told_is_checked_somewhere(md: Path) -> None:
    code = [cell for cell, _ in code_cells(md)]
    found = unchecked_facts(golden(md), code)
    assert not found, "print or assert these in a checked cell too:\n" + "\n".join(found)


def test_an_unchecked_count_and_an_unchecked_glued_word_are_caught() -> None:
    nb = nbformat.v4.new_notebook()
    timing = nbformat.v4.new_code_cell("# nbval-ignore-output: timing\nfor workers in (0, 2): ...",
                                       metadata={"tags": [IGNORE]})
    timing.outputs = [nbformat.v4.new_output("stream", name="stdout", text="num_workers=2: 0.35 s for 313 batches\n"),
                      nbformat.v4.new_output("display_data", data={"application/papermill.record/text/plain": "'AVX2'"},
                                             metadata={"scrapbook": {"name": "cpu_isa"}}),
                      nbformat.v4.new_output("display_data", data={"application/papermill.record/text/plain": "1.72"},
                                             metadata={"scrapbook": {"name": "reg_cpu_s"}})]
    nb.cells = [timing]
    found = unchecked_facts(nb, nb.cells)
    assert len(found) == 2 and "'313'" in found[0] and "cpu_isa" in found[1], found
    assert len(unchecked_facts(nb, [*nb.cells, nbformat.v4.new_code_cell("assert len(dl) == 313")])) == 1
    timing.outputs = [nbformat.v4.new_output("stream", name="stdout", text="seconds per epoch [7.2, 7.4]\n"
                                                                            "test accuracy 0.9265\n")]
    found = unchecked_facts(nb, nb.cells)
    assert len(found) == 1 and "accuracy" in found[0], found


# --- item 16: each self-check asserts its headline target --------------------------------------

def _same(a: ast.AST, b: ast.AST) -> bool:
    return ast.dump(a) == ast.dump(b)


def _conditions(tree: ast.Module) -> list[ast.expr]:
    """The conditions the cell asserts unconditionally: its top-level asserts, `and` split up."""
    found, todo = [], [s.test for s in tree.body if isinstance(s, ast.Assert)]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.And):
            todo += node.values
        else:
            found.append(node)
    return found


def _asserted_names(tree: ast.Module) -> set[str]:
    """Names whose values flow into an unconditional assert: used in one, assigned from one that is,
    or iterated over by a top-level loop that asserts."""
    names = {n.id for c in _conditions(tree) for n in ast.walk(c) if isinstance(n, ast.Name)}
    names |= {n.id for s in tree.body if isinstance(s, ast.For) and any(isinstance(b, ast.Assert) for b in ast.walk(s))
              for n in ast.walk(s.iter) if isinstance(n, ast.Name)}
    assigns = [s for s in tree.body if isinstance(s, ast.Assign)]
    while True:
        more = {n.id for s in assigns if any(isinstance(t, ast.Name) and t.id in names for t in s.targets)
                for n in ast.walk(s.value) if isinstance(n, ast.Name)} - names
        if not more:
            return names
        names |= more


def _checked(tree: ast.Module, chapter: str) -> list[ast.expr]:
    """What the cell passes to ``pt20.check_target(chapter, ...)`` at its top level (unconditionally)."""
    calls = [s.value for s in tree.body if isinstance(s, ast.Expr | ast.Assign)]
    return [c.args[1] for c in calls if isinstance(c, ast.Call) and ast.unparse(c.func) == "pt20.check_target"
            and len(c.args) == 2 and isinstance(c.args[0], ast.Constant) and c.args[0].value == chapter]


def headline_problem(source: str, chapter: book_model.Chapter) -> str | None:
    """Why the self-check ``source`` does not assert ``chapter``'s headline target (None when it does): it must
    pass the very value it reports to ``pt20.check_target``, so the threshold lives in book/chapters.yml only."""
    tree = ast.parse(source)
    reports = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and ast.unparse(n.func) == "pt20.report"]
    metric = next((k.value for r in reports for k in r.keywords if k.arg == chapter.metric), None)
    if metric is None:
        return f"pt20.report(...) does not report {chapter.metric}"
    shown = ast.unparse(metric)
    if not any(_same(checked, metric) for checked in _checked(tree, chapter.id)):
        return f"call pt20.check_target({chapter.id!r}, {shown}) unconditionally (the target lives in the table)"
    if chapter.target.kind == book_model.ALL_ASSERTED:
        counted = [n.args[0] for n in ast.walk(metric) if isinstance(n, ast.Call) and ast.unparse(n.func) == "len"]
        loose = [ast.unparse(x) for x in counted if not (isinstance(x, ast.Name) and x.id in _asserted_names(tree))]
        if not counted or loose:
            return f"{shown} must count checks that the self-check asserts (not asserted: {loose or shown})"
    return None


@pytest.mark.parametrize("md", CHAPTERS, ids=ids)
def test_the_self_check_asserts_the_headline_target(md: Path) -> None:
    self_check = code_cells(md)[-1][0].source
    problem = headline_problem(self_check, BOOK.chapter(md.stem))
    assert problem is None, f"{md.stem}: {problem}"


CHECK = "pt20.check_target('1-1', {0})\npt20.report('1-1', test_acc={0})"


@pytest.mark.parametrize(("source", "target", "ok"), [
    (CHECK.format("test_acc"), 0.80, True),
    ("assert test_acc >= 0.80\npt20.report('1-1', test_acc=test_acc)", 0.80, False),  # a second copy of 0.80
    ("pt20.check_target('1-1', val_acc)\npt20.report('1-1', test_acc=test_acc)", 0.80, False),  # another quantity
    ("pt20.check_target('1-2', test_acc)\npt20.report('1-1', test_acc=test_acc)", 0.80, False),  # another chapter
    ("if fast:\n    pt20.check_target('1-1', test_acc)\npt20.report('1-1', test_acc=test_acc)", 0.80, False),
    ("_ = pt20.check_target('1-1', r.min())\npt20.report('1-1', test_acc=r.min())", 0.97, True),
    ("failed = [k for k, ok in checks.items() if not ok]\nassert not failed\n" + CHECK.format("len(checks)"),
     "all asserted", True),
    ("failed = [k for k, ok in checks.items() if not ok]\nprint(failed)\n" + CHECK.format("len(checks)"),
     "all asserted", False),
    ("for c in configs:\n    assert f(c)\n" + CHECK.format("len(configs)"), "all asserted", True),
])
def test_a_weakened_self_check_is_caught(source: str, target: object, ok: bool) -> None:
    chapter = dataclasses.replace(BOOK.chapter("1-1"), metric="test_acc",
                                  target=book_model.parse_target(target, "1-1"))
    problem = headline_problem(source, chapter)
    assert (problem is None) == ok, problem
