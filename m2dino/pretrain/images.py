"""The unlabelled images of the pretraining: drawn from all 27 generators, in a seed namespace of their own.

The labelled synthetic splits (train/val/test) are generated from small run seeds (``cfg.seed``, 0, 1, 2, ...). The
pretraining draws from ``PRETRAIN_SEED_BASE + pretrain.seed``, a range no labelled split uses, so no labelled image,
and in particular no test image, is ever seen by the self-supervised objective (checked by
``tests/test_pretrain_images.py``). Labels are never computed.
"""
from __future__ import annotations

import numpy as np
import torch
from omegaconf import DictConfig

from m2dino import registry

# Generator seeds >= this belong to the pretraining; labelled splits use seeds below it.
PRETRAIN_SEED_BASE = 1_000_000


def pretrain_seed(seed: int) -> int:
    """The generator seed of the unlabelled pretraining images for pretraining seed ``seed``."""
    if not 0 <= seed < PRETRAIN_SEED_BASE:
        raise ValueError(f"pretrain.seed must lie in [0, {PRETRAIN_SEED_BASE}), got {seed}")
    return PRETRAIN_SEED_BASE + seed


def is_pretrain_seed(seed: int) -> bool:
    """Whether a generator seed lies in the pretraining namespace."""
    return seed >= PRETRAIN_SEED_BASE


def _make_image(task_id: str, seed: int, index: int, size: int) -> np.ndarray:
    """TEMPORARY stand-in until m2dino.synth lands: speckled ellipses in a sector, uint8 [size, size]."""
    tid = registry.task_ids().index(task_id)
    rng = np.random.default_rng([seed, tid, index])
    yy, xx = np.mgrid[0:size, 0:size] / size
    img = np.full((size, size), 0.15 + 0.1 * (tid % 3))
    for _ in range(1 + tid % 4):
        cy, cx, ry, rx = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8), rng.uniform(0.05, 0.3), rng.uniform(0.05, 0.3)
        img[((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1] = rng.uniform(0.0, 0.9)
    img *= rng.rayleigh(0.8, img.shape)
    fan = np.abs(xx - 0.5) < 0.1 + 0.4 * yy if tid % 2 else np.ones_like(img, bool)
    return (np.clip(img * fan, 0, 1) * 255).astype(np.uint8)


def unlabelled_images(cfg: DictConfig) -> torch.Tensor:
    """``pretrain.images_per_task`` images from each task's generator as uint8 [N, 3, S, S], S = data.image_size."""
    seed, n, size = pretrain_seed(int(cfg.pretrain.seed)), int(cfg.pretrain.images_per_task), int(cfg.data.image_size)
    imgs = [_make_image(t, seed, i, size) for t in registry.task_ids() for i in range(n)]
    x = torch.from_numpy(np.stack(imgs))
    return x.unsqueeze(1).expand(-1, 3, -1, -1).contiguous() if x.ndim == 3 else x.permute(0, 3, 1, 2).contiguous()
