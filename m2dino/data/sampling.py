"""Multi-task batches: every batch holds one task; each task has a fixed exposure per epoch.

Exposure: in every epoch, a task of n training images contributes exactly ceil(n / batch_size) batches that cover
each of its images once, whichever other tasks train alongside. Its batches' contents depend only on
(seed, epoch, task id), so TS, CG and AU models see each task's images equally often and in the same groupings.

Order (``train.sampler``) only decides how the tasks' batches interleave. It is drawn from ``train.order_seed`` (null:
the run's seed), so seeds of one unit may share their task order while their images' order and augmentation still
follow their own seed (then they can train stacked). At each step a task is drawn among those with batches left, with
probability
- ``proportional``: proportional to its remaining batches (a uniformly shuffled sequence of all the epoch's batches);
- ``uniform``: equal for every task with batches left (small tasks finish early in the epoch);
- ``temperature``: proportional to n_task^(1/T) (T=1 favours large tasks, large T approaches uniform).

Training reads the plan through a DataLoader (:func:`m2dino.data.build.build_loader`): :class:`TaskBatchSampler`
yields, batch by batch, :class:`PlanKey` s naming the task, the image and the seed of its augmentation. The seed comes
from (seed, epoch, task, image), so an image's augmentation is the same whether it is loaded in the main process or
in any DataLoader worker, and does not touch the global RNG that dropout draws from. Under DDP the sampler gives each
rank its contiguous share of every global batch (:func:`shard`).
"""
from __future__ import annotations

import math
import zlib
from collections.abc import Iterator, Mapping
from typing import NamedTuple

import numpy as np
from torch.utils.data import Sampler

MODES = ("proportional", "uniform", "temperature")


def _task_seed(task_id: str) -> int:
    return zlib.crc32(task_id.encode())  # stable across processes, unlike hash()


def task_batches(n: int, batch_size: int, seed: int, epoch: int, task_id: str, shuffle: bool = True) -> list[list[int]]:
    """One task's batches for one epoch: ceil(n / batch_size) batches covering range(n) once."""
    idx = (np.random.default_rng([seed, epoch, _task_seed(task_id)]).permutation(n) if shuffle
           else np.arange(n))
    return [idx[i:i + batch_size].tolist() for i in range(0, n, batch_size)]


def repeats_for(sizes: Mapping[str, int], batch_size: int, epochs: int, min_steps: int) -> int:
    """How many passes over its images each epoch makes so that a task (``sizes`` holds one) gets at least
    ``min_steps`` optimiser steps of its own in ``epochs`` epochs (``train.min_steps``; 1 when it has enough)."""
    per_pass = batches_per_epoch(sizes, batch_size) * max(1, int(epochs))
    if per_pass == 0 or min_steps <= per_pass:
        return 1
    return math.ceil(min_steps / per_pass)


def task_repeats(sizes: Mapping[str, int], batch_size: int, epochs: int, min_steps: int) -> dict[str, int]:
    """The step floor per task (:func:`repeats_for` of each task alone), the same in every paradigm: a task makes
    the same number of passes per epoch, and so gets the same number of optimiser steps of its own, whether it trains
    alone (TS) or in a clinical group (CG) or all-task (AU) unit. A floor per unit would instead give a small task
    many more updates alone than as a few percent of a shared unit, and confound aggregation with budget."""
    return {t: repeats_for({t: n}, batch_size, epochs, min_steps) for t, n in sizes.items()}


Repeats = int | Mapping[str, int]


def _repeats(sizes: Mapping[str, int], repeats: Repeats) -> dict[str, int]:
    r = ({t: int(repeats) for t in sizes} if isinstance(repeats, int)
         else {t: int(repeats.get(t, 1)) for t in sizes})
    bad = {t: v for t, v in r.items() if v < 1}
    if bad:
        raise ValueError(f"repeats must be >= 1, got {bad}")
    return r


def epoch_batches(sizes: Mapping[str, int], batch_size: int, mode: str = "proportional", temperature: float = 2.0,
                  seed: int = 0, epoch: int = 0, shuffle: bool = True,
                  repeats: Repeats = 1, order_seed: int | None = None) -> list[tuple[str, list[int], int]]:
    """The epoch's batches in order, as (task id, indices into that task's dataset, pass): task t makes
    ``repeats[t]`` passes over its images (the step floor, :func:`task_repeats`), pass j drawn as that task's batches
    of single-pass epoch ``epoch * repeats[t] + j`` (the pass number, which also seeds the images' augmentation).
    ``order_seed`` seeds only how the tasks interleave (None: ``seed``).

    With ``shuffle=False`` (evaluation) the tasks come one after the other in the given order, images in order.
    """
    if mode not in MODES:
        raise ValueError(f"train.sampler must be one of {MODES}, got {mode!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if mode == "temperature" and temperature <= 0:
        raise ValueError(f"train.temperature must be > 0, got {temperature}")
    reps = _repeats(sizes, repeats)
    tasks = [t for t in sizes if sizes[t] > 0]
    per_task = {t: [(b, epoch * reps[t] + j) for j in range(reps[t])
                    for b in task_batches(sizes[t], batch_size, seed, epoch * reps[t] + j, t, shuffle)]
                for t in tasks}
    if not shuffle:
        return [(t, b, e) for t in tasks for b, e in per_task[t]]
    if not tasks:
        return []
    if len({reps[t] for t in tasks}) == 1 and reps[tasks[0]] > 1:
        # the same number of passes for every task (an int ``repeats``, or a per-task floor that happens to agree):
        # pass after pass, each interleaved as a single-pass epoch, as an int ``repeats`` has always meant (a one-task
        # unit gets the same plan either way)
        r = reps[tasks[0]]
        return [(t, b, epoch * r + j) for j in range(r)
                for t, b, _ in epoch_batches(sizes, batch_size, mode, temperature, seed, epoch * r + j, shuffle,
                                             order_seed=order_seed)]
    rng = np.random.default_rng([seed if order_seed is None else order_seed, epoch, 0x0DE5])
    left = {t: len(per_task[t]) for t in tasks}
    static = {t: (1.0 if mode == "uniform" else sizes[t] ** (1.0 / temperature)) for t in tasks}
    plan = []
    for _ in range(sum(left.values())):
        live = [t for t in tasks if left[t] > 0]
        w = np.array([left[t] if mode == "proportional" else static[t] for t in live], dtype=float)
        t = live[rng.choice(len(live), p=w / w.sum())]
        b, e = per_task[t][len(per_task[t]) - left[t]]
        plan.append((t, b, e))
        left[t] -= 1
    return plan


def epoch_plan(sizes: Mapping[str, int], batch_size: int, mode: str = "proportional", temperature: float = 2.0,
               seed: int = 0, epoch: int = 0, shuffle: bool = True, repeats: Repeats = 1,
               order_seed: int | None = None) -> list[tuple[str, list[int]]]:
    """:func:`epoch_batches` without the pass numbers: (task id, indices) per batch."""
    return [(t, b) for t, b, _ in epoch_batches(sizes, batch_size, mode, temperature, seed, epoch, shuffle, repeats,
                                                order_seed)]


def item_seed(seed: int, epoch: int, task_id: str, index: int) -> int:
    """The augmentation seed of one image in one epoch: independent of process, worker and batch neighbours."""
    return int(np.random.SeedSequence([seed, epoch, _task_seed(task_id), index]).generate_state(1, np.uint64)[0]
               >> np.uint64(1))


def shard(idx: list[int], rank: int, world: int) -> tuple[list[int], float]:
    """This rank's contiguous share of a global batch, and the factor on its mean loss that makes DDP's average of
    the ranks' gradients equal the gradient of the mean over the whole batch (shares may differ by one image).
    A batch smaller than the world is processed whole by every rank (factor 1)."""
    if world == 1 or len(idx) < world:
        return list(idx), 1.0
    n, r = divmod(len(idx), world)
    start = rank * n + min(rank, r)
    mine = list(idx[start:start + n + (rank < r)])
    return mine, len(mine) * world / len(idx)


class PlanKey(NamedTuple):
    """One image of a planned batch: what the loader's dataset reads, and how the loss of its batch is scaled."""

    task: str  # task id
    index: int  # index into that task's dataset
    aug_seed: int | None  # seed of its augmentation (None: evaluation, no randomness)
    share: float  # factor on this rank's mean loss (see :func:`shard`); 1.0 without DDP


def batches_per_epoch(sizes: Mapping[str, int], batch_size: int) -> int:
    return sum(math.ceil(n / batch_size) for n in sizes.values())


class TaskBatchSampler(Sampler[list[PlanKey]]):
    """A DataLoader ``batch_sampler`` yielding :func:`epoch_batches`, batch by batch, as lists of :class:`PlanKey`.

    Call :meth:`set_epoch` before each epoch. ``rank``/``world`` (DDP) keep this rank's share of every global batch;
    every rank yields the same number of batches, in the same task order. With ``shuffle=False`` (evaluation) the
    keys carry no augmentation seed. ``repeats``: passes per epoch, one number for every task or one per task.
    ``order_seed``: seed of the task interleaving (None: ``seed``).
    """

    def __init__(self, sizes: Mapping[str, int], batch_size: int, mode: str = "proportional",
                 temperature: float = 2.0, seed: int = 0, shuffle: bool = True, rank: int = 0,
                 world: int = 1, repeats: Repeats = 1, order_seed: int | None = None) -> None:
        if not 0 <= rank < world:
            raise ValueError(f"rank must be in [0, {world}), got {rank}")
        self.sizes = dict(sizes)
        self.batch_size, self.mode, self.temperature = batch_size, mode, temperature
        self.seed, self.shuffle, self.epoch = seed, shuffle, 0
        self.repeats = _repeats(self.sizes, repeats)
        self.rank, self.world, self.order_seed = rank, world, order_seed
        # fail early
        epoch_batches(self.sizes, batch_size, mode, temperature, seed, 0, shuffle, self.repeats, order_seed)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def plan(self) -> list[tuple[str, list[int]]]:
        """The whole (all ranks') plan of the current epoch."""
        return epoch_plan(self.sizes, self.batch_size, self.mode, self.temperature, self.seed, self.epoch,
                          self.shuffle, self.repeats, self.order_seed)

    def __iter__(self) -> Iterator[list[PlanKey]]:
        for t, idx, e in epoch_batches(self.sizes, self.batch_size, self.mode, self.temperature, self.seed,
                                       self.epoch, self.shuffle, self.repeats, self.order_seed):
            mine, share = shard(idx, self.rank, self.world)
            yield [PlanKey(t, i, item_seed(self.seed, e, t, i) if self.shuffle else None, share) for i in mine]

    def __len__(self) -> int:
        return sum(math.ceil(n / self.batch_size) * self.repeats[t] for t, n in self.sizes.items() if n > 0)
