"""Pytest hooks for every run in this repository (here so that they also cover `pytest notebooks/`).

An nbval run executes the chapters in the book's execution environment (tools/execution.py),
however it was started: the kernels inherit the pins from this process. An exact run (--nbval) on
a machine that cannot reproduce the golden record bit for bit stops at once with one line that says
why, instead of failing with dozens of confusing differences.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "tools"))
import execution  # noqa: E402


def pytest_configure(config: pytest.Config) -> None:
    exact_run = config.getoption("nbval", default=False)
    if not (exact_run or config.getoption("nbval_lax", default=False)):
        return
    execution.apply(gpu=os.environ.get("PT20_DEVICE") == "cuda")
    if exact_run and not hasattr(config, "workerinput"):  # the controller checks once for all workers
        ok, line = execution.exact(execution.platform())
        if not ok:
            raise pytest.UsageError(
                f"{line}.\nThe exact comparison (--nbval) cannot hold on this machine: run `make nbval`, "
                "which picks the comparison this machine supports.")
        config.pt20_comparison = line


def pytest_report_header(config: pytest.Config) -> str | None:
    return getattr(config, "pt20_comparison", None)
