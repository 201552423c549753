"""Predict a split, map predictions back to ORIGINAL image pixels, and score them with ``m2dino.metrics``.

The model sees resized images and normalised coordinates; the challenge scores masks, boxes and points in the pixels
of the original image. So masks are resized back (nearest) and coordinates scaled by each image's ``orig_size``.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from m2dino.data.coords import box_to_pixels, points_to_pixels, to_original
from m2dino.data.truth import original_target
from m2dino.registry import Task, get_task


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


def selection_score(results: Mapping[str, tuple[dict[str, float], pd.DataFrame]],
                    trivial: Mapping[str, tuple[dict[str, float], pd.DataFrame]]) -> float:
    """Model selection: the mean over tasks of the headroom score s of each task's primary metric against the trivial
    predictor on the same (val) images, the trivial predictor fitted on the training split
    (``m2dino.metrics.headroom``). Every task counts alike, MRE as much as Dice; NaN tasks are left out."""
    from m2dino.metrics.headroom import headroom_score

    vals = []
    for t, (summary, _) in results.items():
        metric = get_task(t).primary_metric
        vals.append(headroom_score(summary[metric], trivial[t][0][metric], metric))
    return float(np.nanmean(vals)) if not np.isnan(vals).all() else float("nan")


# ---- the trivial predictor: what a model that ignores the image would score ----------------------------------------

PRIOR_MASK_SIDE = 128  # the canonical grid of the segmentation prior mask (fine for a prior, profile-independent)


def resize_mask(mask: np.ndarray, size) -> np.ndarray:
    """Nearest-neighbour resize of an integer mask to ``size`` (H, W)."""
    m = torch.as_tensor(np.asarray(mask), dtype=torch.float32)[None, None]
    return F.interpolate(m, size=tuple(int(v) for v in size), mode="nearest")[0, 0].to(torch.int64).numpy()


def _class_frequencies(task: Task, targets: list) -> np.ndarray:
    counts = np.bincount([int(t) for t in targets], minlength=task.num_classes).astype(np.float64)
    return counts / counts.sum()


def _mean_target(task: Task, targets: list) -> np.ndarray:
    return np.mean([torch.as_tensor(t).double().numpy() for t in targets], axis=0)


def _prior_mask(task: Task, targets: list) -> np.ndarray:
    side = (PRIOR_MASK_SIDE, PRIOR_MASK_SIDE)
    votes = np.zeros((task.num_classes, *side), dtype=np.int64)
    for mask in targets:
        m = resize_mask(mask, side)
        for c in range(task.num_classes):
            votes[c] += m == c
    return votes.argmax(0).astype(np.int64)


@dataclass(frozen=True)
class Trivial:
    """The image-blind predictor of one task type: what it learns from the training targets, and how that becomes one
    image's prediction in original pixels."""

    fit: Callable[[Task, list], np.ndarray]
    predict: Callable[[np.ndarray, Sequence[int]], np.ndarray]


# cls: the training class frequencies (their argmax is the majority class; as probabilities they rank every image
# alike, so AUC is 0.5); det: the mean box; reg: the mean keypoints; seg: the pixel-wise prior mask, the most frequent
# class at each pixel of a canonical PRIOR_MASK_SIDE grid (ties to the lower class).
TRIVIAL: dict[str, Trivial] = {
    "segmentation": Trivial(_prior_mask, resize_mask),
    "classification": Trivial(_class_frequencies, lambda fitted, size: fitted.copy()),
    "detection": Trivial(_mean_target, box_to_pixels),
    "regression": Trivial(_mean_target, points_to_pixels),
}


def trivial_fit(task_id: str, train_targets: list) -> np.ndarray:
    """Fit the image-blind predictor (:data:`TRIVIAL`) on the TRAINING targets (coordinates normalised to [0, 1] of
    each image; masks at any size)."""
    task = get_task(task_id)
    if not len(train_targets):
        raise ValueError(f"task {task_id}: the trivial predictor needs at least one training target")
    return TRIVIAL[task.type].fit(task, train_targets)


def trivial_predict(task_id: str, fitted: np.ndarray, orig_size) -> np.ndarray:
    """The trivial prediction for one image of ``orig_size`` (H0, W0), in original pixels."""
    return TRIVIAL[get_task(task_id).type].predict(fitted, orig_size)


def trivial_scores(task_id: str, train_set: Dataset, eval_set: Dataset) -> tuple[dict[str, float], pd.DataFrame]:
    """Scores of the image-blind predictor, fitted on ``train_set`` alone, on ``eval_set`` (val for model selection,
    test for the final tables)."""
    from m2dino.data.truth import normalised_train_targets, original_target

    fitted = trivial_fit(task_id, normalised_train_targets(train_set, task_id))
    preds, targets, paths, sizes = [], [], [], []
    for i in range(len(eval_set)):
        item = eval_set[i]
        preds.append(trivial_predict(task_id, fitted, item["meta"]["orig_size"]))
        targets.append(original_target(eval_set, item, task_id))
        paths.append(item["meta"]["image_path"])
        sizes.append(tuple(int(v) for v in item["meta"]["orig_size"]))
    return score(task_id, preds, targets, paths, sizes)
