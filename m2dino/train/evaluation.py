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


# predictions and targets in original pixels, image paths, original sizes
Predictions = tuple[list, list, list[str], list[tuple[int, int]]]


@torch.no_grad()
def predict(model: nn.Module, dataset: Dataset, task_id: str, device: torch.device, batch_size: int = 32,
            amp: bool = False, with_targets: bool = True) -> Predictions:
    """Predictions and targets in original pixels, image paths and original sizes, for every item of a dataset.

    ``with_targets=False`` reads no truth (a hidden test split): the targets list stays empty.
    """
    was_training = model.training
    model.eval()
    acc: Predictions = ([], [], [], [])
    for items in _chunks(dataset, batch_size):
        images = torch.stack([it["image"] for it in items]).to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp and device.type == "cuda"):
            out = model(images, task_id)["out"]
        _collect(acc, out, items, dataset, task_id, with_targets)
    model.train(was_training)
    return acc


def _chunks(dataset: Dataset, batch_size: int):
    """The dataset's items in order, ``batch_size`` at a time (plain slicing: unlike a DataLoader, draws no random
    numbers)."""
    for start in range(0, len(dataset), batch_size):
        yield [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]


def _collect(acc: Predictions, out: torch.Tensor, items: list[dict], dataset: Dataset, task_id: str,
             with_targets: bool = True) -> None:
    """Append one batch's predictions (mapped to original pixels), targets, paths and sizes to ``acc``."""
    task_type = get_task(task_id).type
    preds, targets, paths, sizes = acc
    for j, it in enumerate(items):
        preds.append(to_original(task_type, out[j], it["meta"]["orig_size"]))
        if with_targets:
            targets.append(original_target(dataset, it, task_id))
        paths.append(it["meta"]["image_path"])
        sizes.append(tuple(int(v) for v in it["meta"]["orig_size"]))


@torch.no_grad()
def predict_stacked(model: nn.Module, datasets: Sequence[Dataset], task_id: str, device: torch.device,
                    batch_size: int = 32, keep: Sequence[int] | None = None) -> list[Predictions]:
    """:func:`predict` for the K models of a ``StackedModel`` at once, model k on ``datasets[k]`` (equal lengths;
    a dataset given to several models is read once). Model k's predictions are those it makes alone. ``keep``: the
    models whose predictions are collected (default all; the others' lists stay empty)."""
    keep = set(range(len(datasets)) if keep is None else keep)
    if len({len(d) for d in datasets}) != 1:
        raise ValueError(f"stacked prediction of {task_id}: the models' datasets differ in length "
                         f"{[len(d) for d in datasets]}")
    was_training = model.training
    model.eval()
    accs: list[Predictions] = [([], [], [], []) for _ in datasets]
    distinct = {id(d): d for d in datasets}
    for chunks in zip(*(_chunks(d, batch_size) for d in distinct.values())):
        by_id = dict(zip(distinct, chunks))
        items = [by_id[id(d)] for d in datasets]
        images = torch.stack([torch.stack([it["image"] for it in its]) for its in items]).to(device)
        out = model(images, task_id)["out"]
        for k, (its, d) in enumerate(zip(items, datasets)):
            if k in keep:
                _collect(accs[k], out[k], its, d, task_id)
    model.train(was_training)
    return accs


def score(task_id: str, preds: list, targets: list, paths: list[str],
          sizes: list[tuple[int, int]]) -> tuple[dict[str, float], pd.DataFrame]:
    """``m2dino.metrics.score_task`` with image paths (for paired comparisons) and original sizes (MRE scale)."""
    from m2dino.metrics import score_task

    return score_task(task_id, preds, targets, image_paths=paths, orig_sizes=sizes)


def eval_batch_size(train_cfg) -> int:
    """Images per forward when scoring val and test (no gradients: larger than a training batch)."""
    return max(int(train_cfg.batch_size), 32)


def evaluate(model: nn.Module, datasets: Mapping[str, Dataset], device: torch.device, batch_size: int = 32,
             amp: bool = False) -> dict[str, tuple[dict[str, float], pd.DataFrame]]:
    """Task id -> (summary metrics, per-image table) on the given split."""
    return {t: score(t, *predict(model, ds, t, device, batch_size, amp)) for t, ds in datasets.items()}


def evaluate_stacked(model: nn.Module, datasets: Sequence[Mapping[str, Dataset]], device: torch.device,
                     batch_size: int = 32, keep: Sequence[int] | None = None,
                     ) -> list[dict[str, tuple[dict[str, float], pd.DataFrame]]]:
    """:func:`evaluate` of each model of a ``StackedModel`` on its own split (``datasets[k]``: task id -> dataset);
    ``keep``: the models scored (default all; the others' dicts stay empty)."""
    keep = list(range(len(datasets)) if keep is None else keep)
    out: list[dict] = [{} for _ in datasets]
    for t in datasets[0]:
        accs = predict_stacked(model, [d[t] for d in datasets], t, device, batch_size, keep)
        for k in keep:
            out[k][t] = score(t, *accs[k])
    return out


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
