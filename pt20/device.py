"""Choosing the device once per chapter (taught in chapter 1-2; ``synchronize`` in 6-3)."""

from __future__ import annotations

import os
import platform

import torch

from pt20 import env

ENV_VAR = env.DEVICE
_KNOWN = ("cuda", "mps", "cpu")


def _available(kind: str) -> bool:
    if kind == "cuda":
        return torch.cuda.is_available()
    if kind == "mps":
        return torch.backends.mps.is_available()
    return kind == "cpu"


def get_device(prefer: str | None = None) -> torch.device:
    """Return the best device: ``$PT20_DEVICE``, then ``prefer``, then cuda, mps, cpu. Taught in chapter 1-2.

    ``torch.accelerator.current_accelerator()`` alone is not trusted: on a CUDA
    build without a GPU it names ``cuda``. Each candidate is checked with its
    ``is_available()``.
    """
    wanted = os.environ.get(ENV_VAR) or prefer
    if wanted:
        try:
            kind = torch.device(wanted).type
        except RuntimeError:  # not even a device string torch knows
            kind = wanted
        if kind not in _KNOWN:
            raise ValueError(f"Unknown device {wanted!r}: use one of {', '.join(_KNOWN)}.")
        if not _available(kind):
            if os.environ.get(ENV_VAR):
                source = f"${ENV_VAR}={wanted}"
                fix = f"Unset {ENV_VAR} to take the best device here, or set {ENV_VAR}=cpu"
            else:  # only prefer= asked for it: no variable to unset
                source = f"prefer={wanted!r}"
                fix = (f"Call get_device() without prefer= to take the best device here, "
                       f"or set {ENV_VAR}=cpu, which overrides prefer=")
            raise RuntimeError(f"Device {wanted!r} was requested ({source}) but is not available here. {fix}.")
        return torch.device(wanted)
    for kind in _KNOWN:
        if _available(kind):
            return torch.device(kind)
    return torch.device("cpu")  # unreachable: cpu is always available


def describe(device: torch.device | str) -> str:
    """A one-line, human-readable description of ``device``. Taught in chapter 1-2."""
    device = torch.device(device)
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        props = torch.cuda.get_device_properties(index)
        return f"cuda:{index} ({props.name}, {props.total_memory / 2**30:.0f} GiB)"
    if device.type == "mps":
        return f"mps (Apple GPU, {platform.machine()})"
    return f"cpu ({platform.machine()}, {torch.get_num_threads()} threads)"


def synchronize(device: torch.device | str) -> None:
    """Wait until queued kernels on ``device`` have finished (no-op on CPU). Taught in chapter 6-3.

    GPU work is asynchronous: timing without this measures only the launch.
    """
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()
