"""Score one task's predictions: the summary the registry asks for, and a per-image table from which the primary
metric can be recomputed on any resample of images (bootstrap, paired comparisons).

Predictions and targets are per image, in ORIGINAL image pixels (the metrics contract):
- segmentation: int mask [H0, W0] (class indices);
- classification: class probabilities [C] (or a dict ``{"probs": [C], "predicted_class": int}`` when a submitted hard
  prediction must be scored, as the challenge does); target: int label;
- detection: box [4] xyxy pixels;
- regression: keypoints [K, 2] xy pixels.
numpy arrays, torch tensors and nested lists are all accepted.

Per-image table columns (``image_path`` first; ``height``/``width`` when ``orig_sizes`` is given):
- segmentation: ``dice``, ``hd``, ``hd95`` (non-background class means) and ``dice_c{k}``, ``hd_c{k}``, ``hd95_c{k}``;
- classification: ``label``, ``pred``, ``correct``, ``p0`` .. ``p{C-1}``;
- detection: ``iou``; regression: ``mre``.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from m2dino.metrics import classification, detection, regression, segmentation
from m2dino.registry import Task, get_task

# The per-image column whose mean over images is the task's primary metric (all but AUC are means).
MEAN_COLUMN = {"dice": "dice", "iou": "iou", "mre": "mre"}


def _np(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):  # torch tensor
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def prob_columns(num_classes: int) -> list[str]:
    return [f"p{c}" for c in range(num_classes)]


def _segmentation(task: Task, preds: Sequence, targets: Sequence, paths: list[str]) -> tuple[dict, pd.DataFrame]:
    rows = []
    for p, t, path in zip(preds, targets, paths):
        p, t = _np(p), _np(t)
        segmentation.check_masks(p, t, task.num_classes, where=f"task {task.id}, image {path}")
        rows.append(segmentation.image_scores(p, t, task.num_classes))
    return segmentation.summary(rows, task.num_classes), pd.DataFrame(rows)


def _classification(task: Task, preds: Sequence, targets: Sequence, paths: list[str]) -> tuple[dict, pd.DataFrame]:
    where = f"task {task.id}"
    hard = [p.get("predicted_class") if isinstance(p, dict) else None for p in preds]
    probs = np.stack([_np(p["probs"] if isinstance(p, dict) else p).astype(np.float64).reshape(-1) for p in preds])
    labels = np.array([int(_np(t).item()) for t in targets])
    classification.check_inputs(labels, probs, task.num_classes, where)
    given = [h is not None for h in hard]
    if any(given) and not all(given):
        raise ValueError(f"predicted_class given for some images but not all ({where})")
    predicted = np.array([int(h) for h in hard]) if all(given) else probs.argmax(1)
    if ((predicted < 0) | (predicted >= task.num_classes)).any():
        raise ValueError(f"predicted_class outside 0..{task.num_classes - 1} ({where})")
    df = pd.DataFrame({"label": labels, "pred": predicted, "correct": (labels == predicted).astype(int)})
    df[prob_columns(task.num_classes)] = probs
    return classification.metrics(labels, probs, predicted), df


def _detection(task: Task, preds: Sequence, targets: Sequence, paths: list[str]) -> tuple[dict, pd.DataFrame]:
    p = np.stack([_np(x).astype(np.float64).reshape(-1) for x in preds])
    t = np.stack([_np(x).astype(np.float64).reshape(-1) for x in targets])
    detection.check_boxes(p, "predicted", f"task {task.id}")
    detection.check_boxes(t, "true", f"task {task.id}")
    iou = detection.iou_per_image(p, t)
    return {"iou": float(iou.mean())}, pd.DataFrame({"iou": iou})


def _regression(task: Task, preds: Sequence, targets: Sequence, paths: list[str]) -> tuple[dict, pd.DataFrame]:
    k = task.num_classes
    p = np.stack([_np(x).astype(np.float64).reshape(-1, 2) for x in preds])
    t = np.stack([_np(x).astype(np.float64).reshape(-1, 2) for x in targets])
    regression.check_points(p, k, "predicted", f"task {task.id}")
    regression.check_points(t, k, "true", f"task {task.id}")
    mre = regression.radial_error_per_image(p, t)
    return {"mre": float(mre.mean())}, pd.DataFrame({"mre": mre})


_SCORERS = {"segmentation": _segmentation, "classification": _classification, "detection": _detection,
            "regression": _regression}


def score_task(task_id: str, preds: list, targets: list, image_paths: list[str] | None = None,
               orig_sizes: list[tuple[int, int]] | None = None) -> tuple[dict[str, float], pd.DataFrame]:
    """Summary ``{metric: value}`` (the registry's primary then secondary metrics) and the per-image table.

    Args:
        image_paths: the CSV's ``image_path`` of each image (unique); ``img00000``, ... when omitted.
        orig_sizes: (H0, W0) of each image; adds ``height`` and ``width`` columns.
    """
    task = get_task(task_id)
    n = len(preds)
    if n == 0:
        raise ValueError(f"no predictions to score for task {task_id}")
    if len(targets) != n:
        raise ValueError(f"task {task_id}: {n} predictions but {len(targets)} targets")
    paths = [f"img{i:05d}" for i in range(n)] if image_paths is None else [str(p) for p in image_paths]
    if len(paths) != n:
        raise ValueError(f"task {task_id}: {n} predictions but {len(paths)} image paths")
    dup = pd.Series(paths)[pd.Series(paths).duplicated()].tolist()
    if dup:
        raise ValueError(f"task {task_id}: duplicate image paths, e.g. {dup[:3]}")
    summary, df = _SCORERS[task.type](task, preds, targets, paths)
    df.insert(0, "image_path", paths)
    if orig_sizes is not None:
        if len(orig_sizes) != n:
            raise ValueError(f"task {task_id}: {n} predictions but {len(orig_sizes)} original sizes")
        df["height"] = [int(s[0]) for s in orig_sizes]
        df["width"] = [int(s[1]) for s in orig_sizes]
        if task.type == "segmentation":
            shapes = [tuple(_np(t).shape) for t in targets]
            bad = [i for i, (s, o) in enumerate(zip(shapes, orig_sizes)) if s != (int(o[0]), int(o[1]))]
            if bad:
                raise ValueError(f"task {task_id}: truth mask of {paths[bad[0]]} is {shapes[bad[0]]}, original size "
                                 f"says {tuple(orig_sizes[bad[0]])}")
    wanted = (task.primary_metric, *task.secondary_metrics)
    return {m: summary[m] for m in wanted}, df


def _require(df: pd.DataFrame, cols: list[str], task_id: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(f"per-image table of task {task_id} lacks columns {missing}")


def primary_from_per_image(task_id: str, df: pd.DataFrame) -> float:
    """The task's primary metric recomputed from its per-image table (any subset or resample of rows)."""
    task = get_task(task_id)
    if task.primary_metric == "auc":
        cols = prob_columns(task.num_classes)
        _require(df, ["label", *cols], task_id)
        return classification.auc(df["label"].to_numpy(dtype=np.int64), df[cols].to_numpy(dtype=np.float64))
    col = MEAN_COLUMN[task.primary_metric]
    _require(df, [col], task_id)
    return float(df[col].mean())


def probabilities(df: pd.DataFrame, num_classes: int) -> np.ndarray:
    """The ``p0`` .. ``p{C-1}`` columns as an [N, C] array (column by column: much faster than a column list)."""
    return np.column_stack([df[c].to_numpy(dtype=np.float64) for c in prob_columns(num_classes)])


def primary_resampled(task_id: str, df: pd.DataFrame, weights: np.ndarray) -> np.ndarray:
    """The primary metric on many resamples at once: row b of ``weights`` [B, N] counts how often each row of
    ``df`` is drawn. Vectorised (one matrix product for means, a rank formula for AUC)."""
    task = get_task(task_id)
    if task.primary_metric == "auc":
        _require(df, ["label", *prob_columns(task.num_classes)], task_id)
        return classification.auc_weighted(df["label"].to_numpy(dtype=np.int64), probabilities(df, task.num_classes),
                                           weights)
    col = MEAN_COLUMN[task.primary_metric]
    _require(df, [col], task_id)
    return weights @ df[col].to_numpy(dtype=np.float64) / weights.sum(1)
