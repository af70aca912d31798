"""Machine-readable chapter results for the benchmark (``make bench``).

A chapter's self-check calls ``pt20.report("1-1", val_acc=0.83)``. When the
benchmark runs the chapter it sets ``$PT20_REPORT_DIR``; the metrics are then
merged into ``<dir>/<chapter>.json``. Outside the benchmark nothing is written.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

from pt20 import _files, env

ENV_VAR = env.REPORT_DIR
CHAPTER_ID = re.compile(r"\d+-\d+")  # also the file name, so nothing that could leave the folder


def _read_report(path: Path) -> dict[str, float]:
    """The metrics already recorded in ``path`` (none when it does not exist)."""
    if not path.exists():
        return {}
    fix = "It is written only by pt20.report: delete it and run the chapter again."
    try:
        old = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"The report file {path} is not valid JSON ({exc}). {fix}") from exc
    if not isinstance(old, dict):
        raise ValueError(f"The report file {path} holds {type(old).__name__}, not an object of metrics. {fix}")
    return old


def report(chapter: str, **metrics: float) -> dict[str, float]:
    """Record the headline metrics of ``chapter`` and return them. Taught in chapter 1-1."""
    if not isinstance(chapter, str) or not CHAPTER_ID.fullmatch(chapter):
        raise ValueError(f"pt20.report needs a chapter id such as '1-1' (the start of the chapter's file "
                         f"name), got {chapter!r}.")
    values = {name: float(value) for name, value in metrics.items()}
    bad = [name for name, value in values.items() if not math.isfinite(value)]
    if bad:
        raise ValueError(f"Metrics must be finite numbers; got {bad} for chapter {chapter}.")
    out_dir = os.environ.get(ENV_VAR)
    if out_dir:
        path = Path(out_dir) / f"{chapter}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        merged = _read_report(path) | values
        _files.atomic_write_text(path, json.dumps(merged, indent=1, sort_keys=True))
    return values
