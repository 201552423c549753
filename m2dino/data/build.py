"""What the trainer calls: datasets of a split for some tasks (validated first), and their one-task-batch loader.

Training reads its data only through :func:`build_loader`, so ``runtime.num_workers`` decodes and augments in worker
processes with results identical to loading in the main process (each image's augmentation is seeded per item).
"""
from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from omegaconf import DictConfig
from torch.utils.data import DataLoader, Dataset

from m2dino.data import layout
from m2dino.data.dataset import TaskDataset, collate_one_task
from m2dino.data.errors import DataError
from m2dino.data.sampling import PlanKey, TaskBatchSampler, task_repeats
from m2dino.data.transforms import AugmentConfig
from m2dino.data.validate import raise_if_invalid
from m2dino.paths import data_root


def build_datasets(cfg: DictConfig, task_ids: Sequence[str], split: str, train: bool | None = None,
                   validate: bool = True) -> dict[str, TaskDataset]:
    """One :class:`TaskDataset` per task id, in the given order.

    Validates the dataset first (cached) and raises :class:`DataError` on any error. ``cfg.data.fraction`` applies to
    the training split only. A task with no rows in ``split`` is an error for train and a warning (task left out)
    otherwise. ``train`` (augmentation) defaults to ``split == "train"``.
    """
    root = data_root(cfg)
    task_ids = list(task_ids)
    if validate:
        raise_if_invalid(root, task_ids)
    records = [r for r in layout.read_records(root, task_ids) if r.split == split]
    train = split == "train" if train is None else train
    aug = AugmentConfig.from_cfg(cfg.data.augment)
    out = {}
    for tid in task_ids:
        recs = [r for r in records if r.task_id == tid]
        if not recs:
            if split == "train":
                raise DataError(f"{root}: task {tid!r} has no rows in the train split")
            warnings.warn(f"{root}: task {tid!r} has no rows in the {split} split; left out", stacklevel=2)
            continue
        out[tid] = TaskDataset(recs, tid, cfg.data.image_size, train=train,
                               cache_in_memory=bool(cfg.data.cache_in_memory),
                               fraction=float(cfg.data.fraction) if split == "train" else 1.0,
                               seed=int(cfg.seed), augment=aug, root=root)
    return out


class PlannedItems(Dataset):
    """The per-task datasets behind one loader, indexed by :class:`PlanKey`: returns (key, item).

    An item with an augmentation seed is drawn under that seed in a forked global RNG, so the augmentation is the
    same in any process and the caller's RNG stream (dropout, init) is left as it was.
    """

    def __init__(self, datasets: Mapping[str, Dataset]) -> None:
        self.datasets = dict(datasets)

    def __len__(self) -> int:
        return sum(len(d) for d in self.datasets.values())  # type: ignore[arg-type]

    def __getitems__(self, keys: list[PlanKey]) -> list[tuple[PlanKey, dict[str, Any]]]:
        """A whole planned batch (what the DataLoader asks for): augmented at once when its dataset can
        (``TaskDataset.augmented``: byte-identical to the items one by one, ~4x faster at the demo), else per item."""
        ds = self.datasets[keys[0].task] if keys else None
        if keys and all(k.task == keys[0].task and k.aug_seed is not None for k in keys) and \
                getattr(ds, "batch_augmentable", False):
            return list(zip(keys, ds.augmented([k.index for k in keys], [k.aug_seed for k in keys])))
        return [self[k] for k in keys]

    def __getitem__(self, key: PlanKey) -> tuple[PlanKey, dict[str, Any]]:
        ds = self.datasets[key.task]
        if key.aug_seed is None:
            return key, ds[key.index]
        # the CPU generator's state saved and restored by hand: torch.random.fork_rng + torch.manual_seed also queue a
        # lazy CUDA seeding with a captured stack trace on every call (a demo TS unit trained ~3% faster without them)
        gen = torch.default_generator
        state = gen.get_state()
        try:
            gen.manual_seed(key.aug_seed)
            return key, ds[key.index]
        finally:
            gen.set_state(state)


def collate_planned(pairs: list[tuple[PlanKey, dict[str, Any]]]) -> dict[str, Any]:
    """One task's batch (:func:`collate_one_task`) plus ``share``, the factor on this rank's mean loss."""
    keys = [k for k, _ in pairs]
    batch = collate_one_task([it for _, it in pairs])
    if batch["task_id"] != keys[0].task:
        raise ValueError(f"the dataset of task {keys[0].task!r} returned items of task {batch['task_id']!r}")
    batch["share"] = keys[0].share
    return batch


def build_loader(cfg: DictConfig, datasets: Mapping[str, Dataset], train: bool, batch_size: int | None = None,
                 seed: int | None = None, rank: int = 0, world: int = 1) -> DataLoader:
    """A DataLoader of one-task batches over ``datasets`` (task id -> dataset), the one path training reads.

    Training: the fixed-exposure plan of ``cfg.train.sampler``, this rank's share of each batch; call
    ``loader.batch_sampler.set_epoch(epoch)`` before each epoch. Evaluation (``train=False``): each task's images in
    order, task after task. Batches are dicts with ``task_id``, ``image``, ``target``, ``meta`` and ``share``.
    """
    seed = int(cfg.seed if seed is None else seed)
    sizes, bs = {t: len(d) for t, d in datasets.items()}, int(batch_size or cfg.train.batch_size)
    # the step floor (train.min_steps), per task: a task with too few steps of its own makes several passes per epoch,
    # the same number in every paradigm
    repeats = task_repeats(sizes, bs, int(cfg.train.epochs), int(cfg.train.min_steps)) if train else 1
    order_seed = cfg.train.order_seed
    sampler = TaskBatchSampler(sizes, bs, mode=str(cfg.train.sampler), temperature=float(cfg.train.temperature),
                               seed=seed, shuffle=train, rank=rank, world=world, repeats=repeats,
                               order_seed=None if order_seed is None else int(order_seed))
    workers = int(cfg.runtime.num_workers)
    device = str(cfg.profile.device)
    pin = torch.cuda.is_available() and device != "cpu"
    # the generator only seeds the workers' base RNG (overridden per item); it keeps the global RNG untouched
    return DataLoader(PlannedItems(datasets), batch_sampler=sampler, collate_fn=collate_planned,
                      num_workers=workers, pin_memory=pin, persistent_workers=workers > 0,
                      generator=torch.Generator().manual_seed(seed),
                      prefetch_factor=4 if workers > 0 else None)
