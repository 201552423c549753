"""Each task's primary metric mapped to [0, 1], higher better, so a run can be selected on the mean over its tasks
(issue 6: model selection on val by the mean normalised primary metric).

Mapping [ours]:
- Dice, AUC, IoU are already in [0, 1] with higher better: kept as they are (clipped, against rounding).
- MRE (pixels, lower better): 1 - MRE / diagonal, clipped to [0, 1], where diagonal = sqrt(H² + W²) of the images
  (pass the mean original size of the task's evaluation images; :func:`mean_image_size` reads it from a per-image
  table scored with ``orig_sizes``). The diagonal is the largest distance two points of the image can be apart, so
  the map is 1 for a perfect prediction and 0 for one as far off as the image allows; it is the same scale the
  challenge uses for the Hausdorff distance of a missed class.
- NaN (an undefined AUC) stays NaN; average with ``np.nanmean``.
"""
from __future__ import annotations

import math

import pandas as pd

from m2dino.registry import get_task


def normalised_primary(task_id: str, value: float, image_size: tuple[float, float] | None = None) -> float:
    """``value`` of the task's primary metric mapped to [0, 1] (see the module notes).

    Args:
        image_size: (H, W) in original pixels; required for MRE tasks, ignored otherwise.
    """
    task = get_task(task_id)
    if math.isnan(value):
        return float("nan")
    if task.primary_metric in ("dice", "auc", "iou"):
        return min(max(float(value), 0.0), 1.0)
    if task.primary_metric == "mre":
        if image_size is None:
            raise ValueError(f"task {task_id}: normalising MRE needs the image size (H, W) in pixels")
        diagonal = math.hypot(float(image_size[0]), float(image_size[1]))
        if diagonal <= 0:
            raise ValueError(f"task {task_id}: image size {image_size} has no extent")
        return min(max(1.0 - float(value) / diagonal, 0.0), 1.0)
    raise ValueError(f"task {task_id}: no normalisation for primary metric {task.primary_metric!r}")


def mean_image_size(df: pd.DataFrame) -> tuple[float, float]:
    """Mean (H, W) of the images of a per-image table that has ``height`` and ``width`` columns."""
    if not {"height", "width"} <= set(df.columns):
        raise ValueError("per-image table has no height/width columns; score it with orig_sizes")
    return float(df["height"].mean()), float(df["width"].mean())
