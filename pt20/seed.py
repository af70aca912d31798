"""Seeding every source of randomness a chapter touches (taught in chapter 1-1).

``$PT20_SEED_OFFSET`` (a non-negative integer, default 0) is added to every seed these functions are given:
the benchmark's ``--seeds N`` re-runs a chapter with offsets 0 .. N-1 to check that its results
hold for other seeds than the one printed on the page.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from pt20 import env

OFFSET_VAR = env.SEED_OFFSET
MAX_SEED = 2**32 - 1  # NumPy's legacy seeding accepts 0 .. 2**32-1 only


def offset() -> int:
    """The seed offset from ``$PT20_SEED_OFFSET`` (0 when unset). Taught in chapter 1-1."""
    raw = os.environ.get(OFFSET_VAR, "0").strip() or "0"
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_SEED:
        raise ValueError(f"{OFFSET_VAR} must be a non-negative integer such as 1, got {raw!r}; "
                         "unset it to use the seeds printed on the page.")
    return value


def _effective(seed: int) -> int:
    """``seed`` plus the offset, checked against the range every generator seeded here accepts."""
    shift = offset()
    if not 0 <= seed + shift <= MAX_SEED:
        raise ValueError(f"seed {seed} + ${OFFSET_VAR} {shift} = {seed + shift} is outside 0 .. 2**32-1, "
                         f"the seeds NumPy accepts: use a smaller seed or offset.")
    return seed + shift


def generator(seed: int = 42) -> torch.Generator:
    """Return a CPU ``torch.Generator`` seeded with ``seed`` (plus the offset). Taught in chapter 1-1.

    Pass it to ``random_split`` and to every shuffling ``DataLoader`` so that the
    order of the data does not depend on how much randomness other cells used.
    """
    gen = torch.Generator()
    gen.manual_seed(_effective(seed))
    return gen


def seed_everything(seed: int = 42, deterministic: bool = False) -> torch.Generator:
    """Seed Python's ``random``, NumPy and torch (CPU, CUDA, MPS) in one call.

    Taught in chapter 1-1. Returns a seeded CPU generator for loaders and splits. With
    ``deterministic=True`` torch is also asked to prefer deterministic kernels
    (it warns, rather than fails, where none exists) and cuDNN stops autotuning.
    """
    effective = _effective(seed)
    random.seed(effective)
    np.random.seed(effective)
    torch.manual_seed(effective)  # also seeds every CUDA and MPS device
    os.environ["PYTHONHASHSEED"] = str(effective)  # inherited by worker processes
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        # cuBLAS needs this to be deterministic on CUDA >= 10.2
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    return generator(seed)  # (generator adds the offset itself)


def seed_worker(worker_id: int) -> None:
    """``worker_init_fn`` for DataLoader workers: PyTorch's documented recipe. Taught in chapter 5-1.

    Since PyTorch 1.9 the DataLoader already seeds torch, ``random`` and NumPy in
    each worker from the loader's base seed; this makes that explicit and is the
    place to seed any other library a dataset draws random numbers from.
    """
    worker_seed = torch.initial_seed() % 2**32
    np.random.seed(worker_seed)
    random.seed(worker_seed)
