"""Pytest hooks for every run in this repository (here so that they also cover `pytest notebooks/`).

An nbval run executes the chapters in the book's execution environment (tools/execution.py),
however it was started: the kernels inherit the pins from this process. An exact run (--nbval) on
a machine that cannot reproduce the golden record bit for bit stops at once with one line that says
why, instead of failing with dozens of confusing differences. It also compares every figure, which
nbval itself drops (tools/nbcompare.py: identical pixels).
"""

from __future__ import annotations

import os

import pytest

from pt20 import env
from tools import execution


def pytest_configure(config: pytest.Config) -> None:
    exact_run = config.getoption("nbval", default=False)
    if not (exact_run or config.getoption("nbval_lax", default=False)):
        return
    execution.apply(gpu=os.environ.get(env.DEVICE) == "cuda")
    if exact_run and not hasattr(config, "workerinput"):  # the controller checks once for all workers
        if problem := execution.seed_offset_problem():
            raise pytest.UsageError(problem)
        ok, line = execution.exact(execution.platform())
        if not ok:
            raise pytest.UsageError(
                f"{line}.\nThe exact comparison (--nbval) cannot hold on this machine: run `make nbval`, "
                "which picks the comparison this machine supports.")
        config.pt20_comparison = line


def pytest_report_header(config: pytest.Config) -> str | None:
    return getattr(config, "pt20_comparison", None)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    """After nbval has compared a cell's text, compare its figures with the golden ones."""
    result = yield
    # an nbval cell that was compared (not nbval-ignore-output, not lax, run in the golden record)
    fresh = getattr(item, "test_outputs", None)
    if fresh is not None and item.options["check"] and item.cell.execution_count and item.config.getoption("nbval"):
        from tools import nbcompare

        problems = nbcompare.figure_problems(nbcompare.figures(item.cell.outputs), nbcompare.figures(fresh))
        if problems:
            item.raise_cell_error("Cell figures differ from the golden record", "\n".join(problems))
    return result
