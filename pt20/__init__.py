"""pt20 — the small helper package of *PyTorch in 20 Days*.

Each module is taught by a chapter before later chapters import it:
``seed`` and ``data`` (1-1), ``device`` and ``plot`` (1-2), ``synthetic`` (3-1), ``train`` (3-3).
"""

from pt20 import data, device, plot, seed, synthetic
from pt20.reporting import report

__all__ = ["data", "device", "plot", "report", "seed", "synthetic", "train"]
__version__ = "1.0.0"


def __getattr__(name: str):
    # ``pt20.train`` pulls in torchmetrics; import it only when a chapter uses it.
    if name == "train":
        import importlib

        return importlib.import_module("pt20.train")
    raise AttributeError(f"module 'pt20' has no attribute {name!r}")
