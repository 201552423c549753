"""The unlabelled images of the pretraining: drawn from all 27 task generators, in a seed namespace of their own.

The labelled synthetic splits draw item ``index`` of task ``t`` in split ``s`` from
``item_rng(data.seed, profile, t, s, index)`` (``m2dino.synth.generate``), whose key holds the split's code 0, 1 or 2
(train, val, test). The pretraining uses split code :data:`PRETRAIN_SPLIT_CODE` = 3, which no labelled split has,
so its generators never coincide with those of a labelled image, and no test image is ever seen
(``tests/test_pretrain_images.py`` checks the keys and the pixels). Only the images are used; labels are discarded.
"""
from __future__ import annotations

import zlib

import numpy as np
import torch
from omegaconf import DictConfig

from m2dino import registry
from m2dino.synth.generate import SPLITS
from m2dino.synth.tasks import make_sample

PRETRAIN_SPLIT_CODE = len(SPLITS)  # after train (0), val (1), test (2): never used by a labelled split


def pretrain_key(seed: int, profile: str, task_id: str, index: int) -> list[int]:
    """The seed-sequence key of one unlabelled image (the labelled splits' key layout, split code 3)."""
    return [int(seed), zlib.crc32(profile.encode()), zlib.crc32(task_id.encode()), PRETRAIN_SPLIT_CODE, int(index)]


def pretrain_rng(seed: int, profile: str, task_id: str, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(pretrain_key(seed, profile, task_id, index)))


def unlabelled_images(cfg: DictConfig) -> torch.Tensor:
    """``pretrain.images_per_task`` images of every task's generator as uint8 [N, 3, S, S], S = data.image_size."""
    seed, n, size = int(cfg.pretrain.seed), int(cfg.pretrain.images_per_task), int(cfg.data.image_size)
    imgs = [make_sample(t, pretrain_rng(seed, cfg.profile.name, t, i), size).image
            for t in registry.task_ids() for i in range(n)]
    x = torch.from_numpy(np.stack(imgs))
    return x.unsqueeze(1).expand(-1, 3, -1, -1).contiguous()  # grey B-mode -> 3 channels, as the datasets do
