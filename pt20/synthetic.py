"""Synthetic data sets that the book draws rather than downloads."""

from __future__ import annotations

import math

import torch

from pt20.seed import generator


def rings(n_pos: int, n_neg: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two noisy concentric rings in the plane: a classification task no straight line can solve.

    Taught in chapter 3-1 (and used again in 3-2, 3-3, 5-3 and 5-4). Positives lie at radius
    5 + N(0, 1), negatives at radius 8 + N(0, 1), both at uniform angles. Returns ``X`` of shape
    ``(n_pos + n_neg, 2)`` and ``y`` of shape ``(n_pos + n_neg, 1)`` (1.0 = positive), positives first.

    ``seed`` names the sample: the same seed gives the same points (plus ``$PT20_SEED_OFFSET``,
    see :mod:`pt20.seed`), and a different seed an independent draw from the same distribution —
    which is how a chapter makes a held-out test set that played no part in training.

    The best any classifier can do is the rule "positive when r < 6.5" (the radius halfway between
    the rings, where the two densities cross when the classes are equally frequent): it is wrong on
    about 6.7 % of points, because P(N(0, 1) > 1.5) = 0.0668.
    """
    if n_pos < 0 or n_neg < 0 or n_pos + n_neg == 0:
        raise ValueError(f"rings needs a positive number of points, got n_pos={n_pos}, n_neg={n_neg}.")
    g = generator(seed)
    r = torch.cat([5.0 + torch.randn(n_pos, generator=g), 8.0 + torch.randn(n_neg, generator=g)])
    theta = 2 * math.pi * torch.rand(n_pos + n_neg, generator=g)
    X = torch.stack([r * torch.cos(theta), r * torch.sin(theta)], dim=1)
    y = torch.cat([torch.ones(n_pos), torch.zeros(n_neg)]).unsqueeze(1)
    return X, y
