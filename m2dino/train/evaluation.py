"""Predict a split, map predictions back to ORIGINAL image pixels, and score them with ``m2dino.metrics``.

The model sees resized images and normalised coordinates; the challenge scores masks, boxes and points in the pixels
of the original image. So masks are resized back (nearest) and coordinates scaled by each image's ``orig_size``.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import Dataset

from m2dino.data.coords import pixel_scale, to_original
from m2dino.data.truth import original_target
from m2dino.registry import get_task


def collate(items: list[dict]) -> dict:
    """Stack one task's items into a batch: ``image`` [B,3,H,W], ``target`` [B,...], ``meta`` a list of dicts."""
    return {"image": torch.stack([it["image"] for it in items]),
            "target": torch.stack([torch.as_tensor(it["target"]) for it in items]),
            "meta": [it["meta"] for it in items]}


@torch.no_grad()
def predict(model: nn.Module, dataset: Dataset, task_id: str, device: torch.device, batch_size: int = 32,
            amp: bool = False, with_targets: bool = True) -> tuple[list, list, list[str], list[tuple[int, int]]]:
    """Predictions and targets in original pixels, image paths and original sizes, for every item of a dataset.

    ``with_targets=False`` reads no truth (a hidden test split): the targets list stays empty.
    """
    task_type = get_task(task_id).type
    was_training = model.training
    model.eval()
    preds, targets, paths, sizes = [], [], [], []
    for start in range(0, len(dataset), batch_size):  # plain slicing: unlike a DataLoader, draws no random numbers
        items = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
        images = torch.stack([it["image"] for it in items]).to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp and device.type == "cuda"):
            out = model(images, task_id)["out"]
        for j, it in enumerate(items):
            preds.append(to_original(task_type, out[j], it["meta"]["orig_size"]))
            if with_targets:
                targets.append(original_target(dataset, it, task_id))
            paths.append(it["meta"]["image_path"])
            sizes.append(tuple(int(v) for v in it["meta"]["orig_size"]))
    model.train(was_training)
    return preds, targets, paths, sizes


def score(task_id: str, preds: list, targets: list, paths: list[str],
          sizes: list[tuple[int, int]]) -> tuple[dict[str, float], pd.DataFrame]:
    """``m2dino.metrics.score_task`` with image paths (for paired comparisons) and original sizes (MRE scale)."""
    from m2dino.metrics import score_task

    return score_task(task_id, preds, targets, image_paths=paths, orig_sizes=sizes)


def evaluate(model: nn.Module, datasets: Mapping[str, Dataset], device: torch.device, batch_size: int = 32,
             amp: bool = False) -> dict[str, tuple[dict[str, float], pd.DataFrame]]:
    """Task id -> (summary metrics, per-image table) on the given split."""
    return {t: score(t, *predict(model, ds, t, device, batch_size, amp)) for t, ds in datasets.items()}


def selection_score(results: Mapping[str, tuple[dict[str, float], pd.DataFrame]]) -> float:
    """Model selection: the mean over tasks of each task's primary metric normalised to [0, 1] (MRE inverted)."""
    from m2dino.metrics import mean_image_size, normalised_primary

    vals = [normalised_primary(t, summary[get_task(t).primary_metric],
                               mean_image_size(df) if get_task(t).primary_metric == "mre" else None)
            for t, (summary, df) in results.items()]
    return float(np.nanmean(vals)) if not np.isnan(vals).all() else float("nan")


# ---- the trivial predictor: what a model that ignores the image would score ----------------------------------------

def trivial_fit(task_id: str, train_targets: list) -> np.ndarray:
    """Fit the image-blind predictor on the training targets (model resolution, normalised coordinates).

    cls: the training class frequencies (their argmax is the majority class); det: the mean box; reg: the mean
    keypoints; seg: nothing (the empty, all-background mask).
    """
    task = get_task(task_id)
    if task.type == "classification":
        counts = np.bincount([int(t) for t in train_targets], minlength=task.num_classes).astype(np.float64)
        return counts / max(1.0, counts.sum())
    if task.type in ("detection", "regression"):
        return np.mean([torch.as_tensor(t).double().numpy() for t in train_targets], axis=0)
    return np.zeros(0)


def trivial_predict(task_id: str, fitted: np.ndarray, orig_size) -> np.ndarray:
    """The trivial prediction for one image of ``orig_size`` (H0, W0), in original pixels."""
    task = get_task(task_id)
    if task.type == "segmentation":
        h0, w0 = (int(v) for v in orig_size)
        return np.zeros((h0, w0), dtype=np.int64)
    if task.type == "classification":
        return fitted.copy()
    if task.type == "detection":
        return fitted * np.tile(pixel_scale(orig_size), 2)
    return fitted.reshape(-1, 2) * pixel_scale(orig_size)
