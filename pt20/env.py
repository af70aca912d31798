"""The environment variables the book reads, and how a yes/no one is read: the one place for both.

Standard library only, and ``pt20/__init__`` imports nothing eagerly, so the tools (which may run
before the virtual environment is complete) import this module too.
"""

from __future__ import annotations

import os

SEED_OFFSET = "PT20_SEED_OFFSET"  # added to every seed (pt20.seed); the bench's seed study sets it
REPORT_DIR = "PT20_REPORT_DIR"  # where pt20.report writes a chapter's metrics (set by the bench)
DEVICE = "PT20_DEVICE"  # the device pt20.device.get_device() returns (cpu, cuda, mps)
DATA_HOME = "PT20_DATA_HOME"  # the dataset cache (default: data/ in the repository)
DATA_MIRROR = "PT20_DATA_MIRROR"  # an offline mirror of the datasets (default: ../shared/data)
OFFLINE = "PT20_OFFLINE"  # yes: pt20.data never tries the internet
NATIVE_KERNELS = "PT20_NATIVE_KERNELS"  # yes: chapters run on this machine's own kernels (tools/execution.py)

_YES, _NO = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


def flag(var: str, error: type[Exception] = ValueError) -> bool:
    """A yes/no variable: 1/true/yes/on or 0/false/no/off (any case); unset or blank is no.
    Anything else raises ``error`` saying what to write."""
    raw = os.environ.get(var, "")
    value = raw.strip().lower()
    if value not in _YES + _NO:
        raise error(f"${var} is {raw!r}: set it to 1 or 0 (also true/false, yes/no, on/off), or unset it.")
    return value in _YES
