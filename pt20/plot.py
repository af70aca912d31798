"""Plotting a training history (written by hand in chapter 1-1, packaged in 1-2)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator


def plot_history(history: pd.DataFrame, metric: str = "loss", ax: Axes | None = None) -> Axes:
    """Plot ``metric`` and ``val_<metric>`` per epoch from a history DataFrame. Taught in chapter 1-2."""
    if metric not in history.columns:
        raise KeyError(f"history has no column {metric!r}; it has {list(history.columns)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    epochs = history["epoch"] if "epoch" in history.columns else range(1, len(history) + 1)
    ax.plot(epochs, history[metric], "o-", label=f"train {metric}")
    val = f"val_{metric}"
    if val in history.columns:
        ax.plot(epochs, history[val], "s--", label=f"val {metric}")
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} per epoch")
    ax.grid(alpha=0.3)
    ax.legend()
    return ax
