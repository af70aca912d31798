"""What the golden record may leave unchecked (issue 22, items 15 and 16).

Every exemption from the comparison has a reason and a limit, none covers a self-check or an
exercise solution, nothing the reader is told rides only in an unchecked cell, and each self-check
asserts its chapter's headline target from book/chapters.yml (not a weaker one).
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import nbformat
import pytest
import yaml
from nbval.plugin import find_comment_markers, metadata_tags

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import nbcompare  # noqa: E402
import notebooks  # noqa: E402

CHAPTERS = notebooks.chapters()
ids = [md.stem for md in CHAPTERS]
PLAN = {c["file"]: c for part in yaml.safe_load((ROOT / "book" / "chapters.yml").read_text())["parts"]
        for c in part["chapters"]}

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

RANGE = re.compile(r"^\s*([-\d.]+)\s*[–-]\s*([-\d.]+)")
PLUS_MINUS = re.compile(r"^\s*([-\d.]+)\s*±\s*([\d.]+)")
AT_LEAST = (ast.GtE, ast.Gt, ast.Eq)  # reading a chain left to right: the left side is at least the right
AT_MOST = (ast.LtE, ast.Lt, ast.Eq)


def _same(a: ast.AST, b: ast.AST) -> bool:
    return ast.dump(a) == ast.dump(b)


def _number(node: ast.AST) -> float | None:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _number(node.operand)
        return None if inner is None else -inner
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, int | float) else None


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


def _bounds(condition: ast.expr, metric: ast.expr) -> list[tuple[str, float]]:
    """("min" | "max" | "eq", c) for every constant the condition bounds the metric by."""
    if not isinstance(condition, ast.Compare):
        return []
    operands, ops, found = [condition.left, *condition.comparators], condition.ops, []
    for i, operand in enumerate(operands):
        if not _same(operand, metric):
            continue
        for j, other in enumerate(operands):
            c = _number(other)
            if c is None or i == j:
                continue
            between = ops[min(i, j):max(i, j)]
            if all(isinstance(op, ast.Eq) for op in between):
                found.append(("eq", c))
            elif all(isinstance(op, AT_LEAST if j > i else AT_MOST) for op in between):
                found.append(("min", c))
            elif all(isinstance(op, AT_MOST if j > i else AT_LEAST) for op in between):
                found.append(("max", c))
    return found


def _within(condition: ast.expr, metric: ast.expr) -> tuple[float, float] | None:
    """(centre, tolerance) of ``abs(metric - centre) < tolerance``."""
    if not (isinstance(condition, ast.Compare) and len(condition.ops) == 1
            and isinstance(condition.ops[0], ast.Lt | ast.LtE) and _number(condition.comparators[0]) is not None):
        return None
    call = condition.left
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "abs"
            and len(call.args) == 1 and isinstance(call.args[0], ast.BinOp) and isinstance(call.args[0].op, ast.Sub)):
        return None
    left, right = call.args[0].left, call.args[0].right
    centre = _number(right) if _same(left, metric) else _number(left) if _same(right, metric) else None
    return None if centre is None else (centre, _number(condition.comparators[0]))


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


def headline_problem(source: str, chapter: dict) -> str | None:
    """Why the self-check ``source`` does not assert ``chapter``'s headline target (None when it does)."""
    tree = ast.parse(source)
    reports = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and ast.unparse(n.func) == "pt20.report"]
    metric = next((k.value for r in reports for k in r.keywords if k.arg == chapter["metric"]), None)
    if metric is None:
        return f"pt20.report(...) does not report {chapter['metric']}"
    target, shown = chapter["target"], ast.unparse(metric)
    bounds = [b for c in _conditions(tree) for b in _bounds(c, metric)]
    if target == "all asserted":
        counted = [n.args[0] for n in ast.walk(metric) if isinstance(n, ast.Call) and ast.unparse(n.func) == "len"]
        loose = [ast.unparse(x) for x in counted if not (isinstance(x, ast.Name) and x.id in _asserted_names(tree))]
        if not counted or loose:
            return f"{shown} must count checks that the self-check asserts (not asserted: {loose or shown})"
        return None
    if isinstance(target, bool) or not isinstance(target, int | float):
        if m := PLUS_MINUS.match(str(target)):
            centre, tolerance = float(m[1]), float(m[2])
            if any(w and w[0] == centre and w[1] <= tolerance for c in _conditions(tree) for w in [_within(c, metric)]):
                return None
            return f"assert abs({shown} - {m[1]}) < {m[2]} (the target {target!r})"
        if m := RANGE.match(str(target)):
            low, high = float(m[1]), float(m[2])
            if any(k == "min" and c >= low for k, c in bounds) and any(k == "max" and c <= high for k, c in bounds):
                return None
            return f"assert {m[1]} <= {shown} <= {m[2]} (the target {target!r})"
        return f"book/chapters.yml: the target {target!r} is none of: a number, 'a–b', 'x ± d', 'all asserted'"
    if isinstance(target, int):  # a count: exact
        if ("eq", target) in bounds:
            return None
        return f"assert {shown} == {target} (the target), unconditionally"
    if any(k in ("min", "eq") and c >= target for k, c in bounds):
        return None
    return f"assert {shown} >= {target} (the target), unconditionally; found bounds {bounds}"


@pytest.mark.parametrize("md", CHAPTERS, ids=ids)
def test_the_self_check_asserts_the_headline_target(md: Path) -> None:
    self_check = code_cells(md)[-1][0].source
    problem = headline_problem(self_check, PLAN[md.stem])
    assert problem is None, f"{md.stem}: {problem}"


@pytest.mark.parametrize(("source", "target", "ok"), [
    ("assert test_acc >= 0.80\npt20.report('1-1', test_acc=test_acc)", 0.80, True),
    ("assert test_acc >= 0.0\npt20.report('1-1', test_acc=test_acc)", 0.80, False),  # weakened
    ("assert test_acc >= 0.79\npt20.report('1-1', test_acc=test_acc)", 0.80, False),
    ("assert 0.92 <= test_acc <= 1, test_acc\npt20.report('1-1', test_acc=test_acc)", 0.92, True),
    ("assert test_acc <= 0.92\npt20.report('1-1', test_acc=test_acc)", 0.92, False),  # the wrong way round
    ("if fast:\n    assert test_acc >= 0.8\npt20.report('1-1', test_acc=test_acc)", 0.80, False),  # conditional
    ("assert val_acc >= 0.8\npt20.report('1-1', test_acc=test_acc)", 0.80, False),  # another quantity
    ("assert m == r.min() >= 0.97\npt20.report('1-1', test_acc=m)", 0.97, True),
    ("assert n == 3 and p == 40_625\npt20.report('1-1', test_acc=p)", 40625, True),
    ("assert p >= 40_625\npt20.report('1-1', test_acc=p)", 40625, False),  # a count is exact
    ("assert abs(x[-1] - 1.0) < 1e-3\npt20.report('1-1', test_acc=x[-1])", "1 ± 0.001", True),
    ("assert abs(x[-1] - 1.0) < 0.1\npt20.report('1-1', test_acc=x[-1])", "1 ± 0.001", False),
    ("assert 46 <= d <= 96\npt20.report('1-1', test_acc=d)", "46–96 (Mar 11–Apr 30)", True),
    ("assert 40 <= d <= 96\npt20.report('1-1', test_acc=d)", "46–96 (Mar 11–Apr 30)", False),
    ("failed = [k for k, ok in checks.items() if not ok]\nassert not failed\n"
     "pt20.report('1-1', test_acc=len(checks))", "all asserted", True),
    ("failed = [k for k, ok in checks.items() if not ok]\nprint(failed)\n"
     "pt20.report('1-1', test_acc=len(checks))", "all asserted", False),
    ("for c in configs:\n    assert f(c)\npt20.report('1-1', test_acc=len(configs))", "all asserted", True),
])
def test_a_weakened_self_check_is_caught(source: str, target: object, ok: bool) -> None:
    problem = headline_problem(source, {"metric": "test_acc", "target": target})
    assert (problem is None) == ok, problem
