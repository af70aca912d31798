"""Machine-readable chapter results for the benchmark (``make bench``).

A chapter's self-check calls ``pt20.report("1-1", val_acc=0.83)``. When the
benchmark runs the chapter it sets ``$PT20_REPORT_DIR``; the metrics are then
merged into ``<dir>/<chapter>.json``. Outside the benchmark nothing is written.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

ENV_VAR = "PT20_REPORT_DIR"


def report(chapter: str, **metrics: float) -> dict[str, float]:
    """Record the headline metrics of ``chapter`` and return them. Taught in chapter 1-1."""
    values = {name: float(value) for name, value in metrics.items()}
    bad = [name for name, value in values.items() if not math.isfinite(value)]
    if bad:
        raise ValueError(f"Metrics must be finite numbers; got {bad} for chapter {chapter}.")
    out_dir = os.environ.get(ENV_VAR)
    if out_dir:
        path = Path(out_dir) / f"{chapter}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        old = json.loads(path.read_text()) if path.exists() else {}
        old.update(values)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(old, indent=1, sort_keys=True))
        tmp.replace(path)
    return values
