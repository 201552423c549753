"""Fixed exposure: every epoch, every task contributes each of its training samples exactly once.

A temporary stand-in with the signature of ``m2dino.data.sampling.epoch_plan`` (issue 4), which replaces it once
merged. Only the ``proportional`` order (a uniformly shuffled sequence of all the epoch's batches) is implemented.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def epoch_plan(sizes: Mapping[str, int], batch_size: int, mode: str = "proportional", temperature: float = 2.0,
               seed: int = 0, epoch: int = 0, shuffle: bool = True) -> list[tuple[str, list[int]]]:
    """The epoch's single-task batches in order, as (task id, indices into that task's dataset)."""
    if mode != "proportional":
        raise NotImplementedError(f"train.sampler={mode!r} needs m2dino.data.sampling (issue 4)")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    rng = np.random.default_rng([seed, epoch])
    batches = []
    for task in sizes:
        perm = rng.permutation(int(sizes[task])) if shuffle else np.arange(int(sizes[task]))
        batches += [(task, perm[i:i + batch_size].tolist()) for i in range(0, len(perm), batch_size)]
    order = rng.permutation(len(batches)) if shuffle else np.arange(len(batches))
    return [batches[i] for i in order]
