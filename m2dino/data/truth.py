"""Ground truth in ORIGINAL image pixels, read from the dataset's records rather than from resized items.

Datasets built by ``m2dino.data`` keep their CSV records (``dataset.records``); the truth is parsed from those, so
metrics never see a mask that went through a resize. Datasets without records (test stand-ins) fall back to their
items' targets mapped back to original pixels.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from m2dino.registry import get_task
from m2dino.data.coords import target_to_original


def record_target(rec, task_id: str):
    """One record's target in original pixels: seg int mask [H0,W0]; cls int; det box [4]; reg points [K,2]."""
    from m2dino.data import io, layout

    task = get_task(task_id)
    if task.type == "segmentation":
        return io.read_mask(rec.mask)
    if task.type == "classification":
        return layout.parse_label(rec, task)
    if task.type == "detection":
        return np.asarray(layout.parse_box(rec), dtype=np.float64)
    return np.asarray(layout.parse_points(rec, task), dtype=np.float64).reshape(-1, 2)


def original_target(dataset: Dataset, item: dict, task_id: str):
    """The truth of ``item`` in original pixels (from its record when the dataset has them)."""
    records = getattr(dataset, "records", None)
    if records is not None:
        return record_target(records[item["meta"]["index"]], task_id)
    return target_to_original(get_task(task_id).type, item["target"], item["meta"]["orig_size"])


def normalised_train_targets(dataset: Dataset, task_id: str) -> list:
    """The training targets without augmentation (for the trivial predictor): labels; boxes and keypoints normalised to
    [0, 1] of each image; masks in original pixels (segmentation)."""
    task = get_task(task_id)
    records = getattr(dataset, "records", None)
    if records is None:
        return [torch.as_tensor(dataset[i]["target"]) for i in range(len(dataset))]
    from m2dino.data import io

    out = []
    for rec in records:
        t = record_target(rec, task_id)
        if task.type in ("classification", "segmentation"):
            out.append(t)
            continue
        h, w = io.image_size(rec.image)
        scale = np.array([w, h], dtype=np.float64)
        out.append(t / np.tile(scale, 2) if task.type == "detection" else t / scale)
    return out


def truth_records(root: Path, task_ids: list[str] | None, split: str) -> dict[str, list[dict]]:
    """Task id -> ground-truth records of ``split`` as ``m2dino.metrics.score_submission`` takes them."""
    from m2dino.data import io, layout

    out: dict[str, list[dict]] = {}
    for rec in layout.read_records(root, task_ids):
        if rec.split != split:
            continue
        entry = {"image_path": rec.image_path, "orig_size": io.image_size(rec.image)}
        if rec.type == "segmentation":
            entry |= {"target": str(rec.mask), "mask_path": rec.mask_path}
        else:
            entry["target"] = record_target(rec, rec.task_id)
        out.setdefault(rec.task_id, []).append(entry)
    return out
