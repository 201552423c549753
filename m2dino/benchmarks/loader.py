"""Does data loading keep up with training? Images/s the loader delivers vs images/s a training step consumes.

The loader is the one training reads (:func:`m2dino.data.build.build_loader`, as ``m2dino.train.loop.fit`` builds
it: the epoch plan of the sampler, per-image augmentation seeds, ``runtime.num_workers`` processes), measured over one
whole epoch with the profile's ``runtime.num_workers`` and, for comparison, with 0 and 2 workers (cached images).

Uses the profile's dataset (``m2dino.paths.data_root(cfg)``) when it exists; otherwise writes a stand-in of the
profile's size in a temporary folder: every task, max(min_per_task, scale * n_train) training images, grayscale
noise PNGs at twice the model's input side (so decoding and resizing cost something). Goal: ratio >= 3.
"""
from __future__ import annotations

import json
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from omegaconf import DictConfig
from PIL import Image

from m2dino import registry
from m2dino.data.build import build_datasets, build_loader
from m2dino.paths import data_root

NAME = "loader"


def write_standin(root: Path, cfg: DictConfig, side: int) -> list[str]:
    """A challenge-layout train split of the profile's per-task sizes; returns the task ids."""
    rng = np.random.default_rng(0)
    csv_dir = root / "train" / "csv_files"
    csv_dir.mkdir(parents=True)
    for t in registry.all_tasks():
        n = max(int(cfg.data.min_per_task), math.ceil(float(cfg.data.scale) * t.n_train))
        rows = []
        for i in range(n):
            rel = f"{t.type}/{t.id}/{i:05d}.png"
            (root / "train" / rel).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 256, (side, side), dtype=np.uint8)).save(root / "train" / rel)
            row = {"task_id": t.id, "task_name": t.csv_task_name, "num_classes": t.num_classes,
                   "image_path": f"../{rel}"}
            if t.type == "segmentation":
                m = np.zeros((side, side), np.uint8)
                m[side // 4: side // 2, side // 4: side // 2] = t.num_classes - 1
                Image.fromarray(m).save(root / "train" / f"{rel[:-4]}_mask.png")
                row["mask_path"] = f"../{rel[:-4]}_mask.png"
            elif t.type == "classification":
                row["mask"] = i % t.num_classes
            elif t.type == "detection":
                row.update(x_min=side / 8, y_min=side / 8, x_max=side / 2, y_max=side / 2)
            else:
                row.update({f"point_{k + 1}_xy": json.dumps([side / 4 + k, side / 3]) for k in range(t.num_classes)})
            rows.append(row)
        pd.DataFrame(rows).to_csv(csv_dir / f"{t.id}.csv", index=False)
    return registry.task_ids()


def _epoch_rate(loader) -> tuple[float, int]:
    loader.batch_sampler.set_epoch(0)
    t0, n = time.perf_counter(), 0
    for b in loader:
        n += b["image"].shape[0]
    return n / (time.perf_counter() - t0), n


def _train_rate(cfg: DictConfig, task_ids: list[str], batches: list[dict]) -> float:
    from m2dino.model import build_model
    from m2dino.pretrain.store import with_resolved_weights

    torch.manual_seed(0)
    model = build_model(with_resolved_weights(cfg), task_ids)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step(b: dict) -> None:
        out = model(b["image"], b["task_id"])
        loss = model.task_loss(out, b["target"], b["task_id"]) + out["aux_loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step(batches[0])  # warm-up
    t0, n = time.perf_counter(), 0
    for b in batches[1:]:
        step(b)
        n += b["image"].shape[0]
    return n / (time.perf_counter() - t0)


def run(cfg: DictConfig) -> dict:
    res: dict = {}
    profile_cached = bool(cfg.data.cache_in_memory)
    root = data_root(cfg)
    with tempfile.TemporaryDirectory() as tmp:
        if (root / "train").is_dir():
            res["dataset"] = str(root)
            task_ids = sorted({p.stem for p in (root / "train" / "csv_files").glob("*.csv")} & set(registry.task_ids()))
            task_ids = task_ids or registry.task_ids()
        else:
            root = Path(tmp) / "standin"
            side = 2 * int(cfg.data.image_size)
            task_ids = write_standin(root, cfg, side)
            res["dataset"] = f"temporary stand-in ({side}x{side} grayscale PNGs)"
        cfg = cfg.copy()
        cfg.data.root = str(root)
        rates = {}
        for cached in (True, False):
            cfg.data.cache_in_memory = cached
            t0 = time.perf_counter()
            ds = build_datasets(cfg, task_ids, "train", validate=False)
            setup = time.perf_counter() - t0
            loader = build_loader(cfg, ds, train=True)
            rates[cached], n = _epoch_rate(loader)
            res[f"{'cached' if cached else 'uncached'}_setup_s"] = round(setup, 2)
        res["train_images"] = n
        res["num_workers"] = int(cfg.runtime.num_workers)
        cfg.data.cache_in_memory = True
        ds = build_datasets(cfg, task_ids, "train", validate=False)
        profile_workers = int(cfg.runtime.num_workers)
        for workers in sorted({0, 2} - {profile_workers}):
            cfg.runtime.num_workers = workers
            res[f"loader_images_per_s_cached_workers{workers}"] = round(_epoch_rate(build_loader(cfg, ds, True))[0], 1)
        cfg.runtime.num_workers = profile_workers
        res["loader_images_per_s_cached"] = round(rates[True], 1)
        res["loader_images_per_s_uncached"] = round(rates[False], 1)
        cfg.data.cache_in_memory = True
        ds = build_datasets(cfg, task_ids, "train", validate=False)
        loader = build_loader(cfg, ds, train=True)
        loader.batch_sampler.set_epoch(0)
        batches = [b for b, _ in zip(loader, range(12))]
    from m2dino.threads import torch_threads

    with torch_threads(cfg.train.threads):  # the thread count training runs with
        train = _train_rate(cfg, task_ids, batches)
    res["train_images_per_s"] = round(train, 1)
    res["ratio_loader_to_training"] = round(rates[profile_cached] / train, 2)  # with the profile's caching
    res["ratio_loader_to_training_cached"] = round(rates[True] / train, 2)
    res["ratio_loader_to_training_uncached"] = round(rates[False] / train, 2)
    res["goal"] = "ratio >= 3"
    return res
