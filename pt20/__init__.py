"""pt20 — the small helper package of *PyTorch in 20 Days*.

Each module is taught by a chapter before later chapters import it:
``seed``, ``data`` and ``check_target`` (1-1), ``device`` and ``plot`` (1-2), ``synthetic`` (3-1),
``train`` (3-3). Nothing is imported until it is used: ``pt20.train`` pulls in torchmetrics, and the
book's tools import ``pt20.book`` and ``pt20.env`` without torch.
"""

import importlib

__all__ = ["book", "check_target", "data", "device", "env", "plot", "report", "seed", "synthetic", "train"]
__version__ = "1.0.0"

_MODULES = {"book", "data", "device", "env", "plot", "reporting", "seed", "synthetic", "train"}
_FUNCTIONS = {"report": "pt20.reporting", "check_target": "pt20.book"}


def __getattr__(name: str):
    if name in _MODULES:
        return importlib.import_module(f"pt20.{name}")
    if name in _FUNCTIONS:
        return getattr(importlib.import_module(_FUNCTIONS[name]), name)
    raise AttributeError(f"module 'pt20' has no attribute {name!r}")
