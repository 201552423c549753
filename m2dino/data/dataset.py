"""One torch Dataset per task, returning the item contract (docs/data-contract.md), and the one-task collate."""
from __future__ import annotations

import math
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, get_worker_info

from m2dino import registry
from m2dino.data import batch_augment, io, layout, transforms
from m2dino.data.errors import DataError
from m2dino.data.layout import Record
from m2dino.data.transforms import AugmentConfig
from m2dino.threads import torch_threads


@contextmanager
def _single_thread() -> Iterator[None]:
    """Run one item's tiny tensor ops on one thread when loading in the main process.

    Per-item transforms are far too small for intra-op parallelism: with the trainer's thread pool they ran 10-20x
    slower on a busy 2-core machine (waking threads per op). DataLoader workers already use one thread each.
    """
    with torch_threads(None if get_worker_info() is not None else 1):
        yield


def subsample(records: list[Record], fraction: float, seed: int) -> list[Record]:
    """A deterministic ``fraction`` of the records (at least one), kept in their original order.

    Nested: the records kept at a smaller fraction are a subset of those kept at a larger one (same seed), so the
    data-scale experiment adds data rather than swapping it.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"data.fraction must be in (0, 1], got {fraction}")
    if fraction >= 1 or not records:
        return list(records)
    n_keep = max(1, math.ceil(fraction * len(records)))
    order = np.random.default_rng([seed, 0x5CA1E]).permutation(len(records))
    return [records[i] for i in sorted(order[:n_keep])]


class TaskDataset(Dataset):
    """The images of one task in one split.

    Args:
        records: records of this task and split (others are dropped); order is kept.
        task: the task (or its id).
        image_size: side of the square model input.
        train: apply the training augmentation.
        cache_in_memory: decode and resize every image once, now (threads), and keep it (uint8 at ``image_size``).
        fraction: keep this fraction of the records (deterministic in ``seed``).
        seed: seed of the subsample.
        augment: augmentation settings (defaults of :class:`AugmentConfig` if None).
        root: the dataset root, only to shorten file names in error messages.
    """

    def __init__(self, records: list[Record], task: registry.Task | str, image_size: int, train: bool = False,
                 cache_in_memory: bool = False, fraction: float = 1.0, seed: int = 0,
                 augment: AugmentConfig | None = None, root: Path | None = None) -> None:
        self.task = registry.get_task(task) if isinstance(task, str) else task
        recs = [r for r in records if r.task_id == self.task.id]
        self.records = subsample(recs, fraction, seed)
        self.image_size = int(image_size)
        self.train = train
        self.root = root
        self._resize = transforms.resize(self.image_size)
        self._augment = transforms.augment(self.task.id, augment or AugmentConfig()) if train else None
        self._cache: list[dict[str, Any]] | None = None
        if cache_in_memory:
            with ThreadPoolExecutor(max_workers=4) as pool:
                self._cache = list(pool.map(self._load, range(len(self.records))))

    def __len__(self) -> int:
        return len(self.records)

    def _load(self, i: int) -> dict[str, Any]:
        """Decode, parse the target (checked against the image), wrap as tv_tensors, resize."""
        rec, t = self.records[i], self.task
        try:
            pix = io.read_image(rec.image)
        except DataError as e:
            raise rec.fail(f"{e} (image_path {rec.image_path!r})", self.root) from None
        size = (int(pix.shape[0]), int(pix.shape[1]))
        image = torch.from_numpy(np.ascontiguousarray(pix[None] if pix.ndim == 2 else pix.transpose(2, 0, 1)))
        if t.type == "segmentation":
            try:
                target = io.read_mask(rec.mask)
            except DataError as e:
                raise rec.fail(str(e), self.root) from None
            if target.shape != size or target.min() < 0 or target.max() >= t.num_classes:
                raise rec.fail(f"mask {rec.mask_path!r} does not fit its image or the task's classes; "
                               f"run `python -m m2dino validate`", self.root)
        elif t.type == "classification":
            target = layout.parse_label(rec, t, self.root)
        elif t.type == "detection":
            target = layout.parse_box(rec, size, self.root)
        else:
            target = layout.parse_points(rec, t, size, self.root)
        sample = self._resize(transforms.to_tv(image, t.type, target, size))
        sample["orig_size"] = size
        return sample

    def _sample(self, i: int) -> dict[str, Any]:
        """Item i decoded and resized (from the cache when there is one), before augmentation."""
        return self._cache[i] if self._cache is not None else self._load(i)

    def _item(self, i: int, orig_size: tuple[int, int], image: torch.Tensor, target: torch.Tensor) -> dict[str, Any]:
        rec = self.records[i]
        return {"image": image, "target": target,
                "meta": {"task_id": rec.task_id, "image_path": rec.image_path, "orig_size": orig_size, "index": i}}

    def __getitem__(self, i: int) -> dict[str, Any]:
        with _single_thread():
            sample = self._sample(i)
            orig_size = sample["orig_size"]
            if self._augment is not None:
                sample = self._augment({k: v for k, v in sample.items() if k != "orig_size"})
            image, target = transforms.finish(sample, self.task.type)
        return self._item(i, orig_size, image, target)

    @property
    def batch_augmentable(self) -> bool:
        """Whether :meth:`augmented` can augment a batch of this dataset at once."""
        return self._augment is not None and batch_augment.supported(self._augment)

    def augmented(self, indices: list[int], seeds: list[int]) -> list[dict[str, Any]]:
        """Items ``indices``, item i augmented as ``self[i]`` is with torch's generator seeded by its seed (byte for
        byte), all at once (m2dino/data/batch_augment.py); torch's generator is left as it was."""
        if not self.batch_augmentable:
            raise ValueError(f"task {self.task.id}: no augmentation that can be applied to a batch at once")
        with _single_thread():
            samples = [self._sample(i) for i in indices]
            images, targets = batch_augment.augment_batch(
                self._augment, [{k: v for k, v in s.items() if k != "orig_size"} for s in samples], seeds,
                self.task.type)
        return [self._item(i, s["orig_size"], im, t) for i, s, im, t in zip(indices, samples, images, targets)]


def collate_one_task(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack a batch of one task: ``image`` [B,3,S,S], ``target`` stacked, ``meta`` a list, ``task_id`` a string."""
    ids = {it["meta"]["task_id"] for it in items}
    if len(ids) != 1:
        raise ValueError(f"a batch must hold one task, got {sorted(ids)}")
    return {"task_id": ids.pop(), "image": torch.stack([it["image"] for it in items]),
            "target": torch.stack([it["target"] for it in items]), "meta": [it["meta"] for it in items]}
