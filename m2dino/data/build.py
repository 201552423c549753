"""What the trainer calls: datasets of a split for some tasks (validated first), and their one-task-batch loader."""
from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch
from omegaconf import DictConfig
from torch.utils.data import ConcatDataset, DataLoader

from m2dino.data import layout
from m2dino.data.dataset import TaskDataset, collate_one_task
from m2dino.data.errors import DataError
from m2dino.data.sampling import TaskBatchSampler
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
    aug = AugmentConfig.from_cfg(cfg.data.get("augment"))
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


def build_loader(cfg: DictConfig, datasets: dict[str, TaskDataset], train: bool, batch_size: int | None = None,
                 seed: int | None = None) -> DataLoader:
    """A DataLoader of one-task batches over ``datasets``.

    Training: the fixed-exposure plan of ``cfg.train.sampler``; call ``loader.batch_sampler.set_epoch(epoch)`` before
    each epoch. Evaluation (``train=False``): each task's images in order, task after task.
    """
    seed = int(cfg.seed if seed is None else seed)
    sampler = TaskBatchSampler({t: len(d) for t, d in datasets.items()}, int(batch_size or cfg.train.batch_size),
                               mode=str(cfg.train.sampler), temperature=float(cfg.train.temperature), seed=seed,
                               shuffle=train)
    workers = int(cfg.data.num_workers)
    device = str(cfg.profile.get("device", "cpu"))
    pin = torch.cuda.is_available() and device != "cpu"
    return DataLoader(ConcatDataset(list(datasets.values())), batch_sampler=sampler, collate_fn=collate_one_task,
                      num_workers=workers, pin_memory=pin, persistent_workers=workers > 0,
                      generator=torch.Generator().manual_seed(seed),
                      prefetch_factor=4 if workers > 0 else None)
