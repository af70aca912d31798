"""Seeding every source of randomness a chapter touches (taught in chapter 1-1)."""

from __future__ import annotations

import os
import random

import numpy as np
import torch


def generator(seed: int = 42) -> torch.Generator:
    """Return a CPU ``torch.Generator`` seeded with ``seed``.

    Pass it to ``random_split`` and to every shuffling ``DataLoader`` so that the
    order of the data does not depend on how much randomness other cells used.
    """
    gen = torch.Generator()
    gen.manual_seed(seed)
    return gen


def seed_everything(seed: int = 42, deterministic: bool = False) -> torch.Generator:
    """Seed Python's ``random``, NumPy and torch (CPU, CUDA, MPS) in one call.

    Returns a seeded CPU generator for loaders and splits. With
    ``deterministic=True`` torch is also asked to prefer deterministic kernels
    (it warns, rather than fails, where none exists) and cuDNN stops autotuning.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA and MPS device
    os.environ["PYTHONHASHSEED"] = str(seed)  # inherited by worker processes
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        # cuBLAS needs this to be deterministic on CUDA >= 10.2
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    return generator(seed)


def seed_worker(worker_id: int) -> None:
    """``worker_init_fn`` for DataLoader workers (chapter 5-1): PyTorch's documented recipe.

    Since PyTorch 1.9 the DataLoader already seeds torch, ``random`` and NumPy in
    each worker from the loader's base seed; this makes that explicit and is the
    place to seed any other library a dataset draws random numbers from.
    """
    worker_seed = torch.initial_seed() % 2**32
    np.random.seed(worker_seed)
    random.seed(worker_seed)
