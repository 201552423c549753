"""The headroom score s: a task's primary metric on a bounded scale between the trivial predictor and perfection.

    s = (M - M_trivial) / (M_perfect - M_trivial)

- Dice, IoU, accuracy and AUC: M_perfect = 1. AUC's trivial value is 0.5 (the majority / class-prior predictor gives
  every image the same scores, so it ranks nothing); a NaN trivial AUC is taken as 0.5.
- MRE: M_perfect = 0, so s = 1 - MRE / MRE_trivial.

s = 0 is the trivial predictor, s = 1 a perfect model, s < 0 worse than trivial. Unlike the relative change
(M - M_TS) / M_TS, a difference of s between two models never divides by a model's own score, so it stays bounded
near the floor and treats AUC's floor (0.5) and Dice's (0) alike. Why it is the primary effect: docs/analysis.md.

This module also holds the ONE criterion for "a model beats the trivial predictor" (:func:`beats_trivial`), used by
the notebooks, the ``beats_trivial.csv`` table and the claims restricted to tasks where TS beats trivial.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from m2dino.registry import get_task

PERFECT = {"dice": 1.0, "iou": 1.0, "accuracy": 1.0, "auc": 1.0, "mre": 0.0}
CHANCE_AUC = 0.5
BEATS_LEVEL = 0.95  # the paired interval of (model - trivial) over test images that must lie above 0


def headroom_score(value: np.ndarray | float, trivial: np.ndarray | float, metric: str) -> np.ndarray | float:
    """s = (M - M_trivial) / (M_perfect - M_trivial) elementwise; NaN where the trivial predictor is already perfect
    (no headroom) or an input is not finite. Scalars in, a float out."""
    if metric not in PERFECT:
        raise ValueError(f"no headroom score for metric {metric!r}; known: {sorted(PERFECT)}")
    m, t = np.asarray(value, dtype=np.float64), np.asarray(trivial, dtype=np.float64)
    if metric == "auc":
        t = np.where(np.isnan(t), CHANCE_AUC, t)
    room = PERFECT[metric] - t
    with np.errstate(invalid="ignore", divide="ignore"):
        s = np.where(np.isfinite(room) & (room != 0), (m - t) / room, np.nan)
    return float(s) if s.ndim == 0 else s


def task_headroom(task_id: str, value: np.ndarray | float, trivial: np.ndarray | float) -> np.ndarray | float:
    """:func:`headroom_score` with the task's primary metric."""
    return headroom_score(value, trivial, get_task(task_id).primary_metric)


def beats_trivial(task_id: str, model: pd.DataFrame, trivial: pd.DataFrame, n_boot: int = 1000,
                  seed: int = 0) -> dict[str, float | bool]:
    """Whether a model beats the trivial predictor on one task: the paired 95% percentile interval of
    (model - trivial) over resamples of the test images (MRE sign-flipped, so positive = better) lies above 0.

    ``model`` and ``trivial`` are per-image tables of the same images (``per_image.csv`` and
    ``per_image_trivial.csv`` of one run). Returns ``model``, ``trivial`` (point values of the primary metric),
    ``diff_low``, ``diff_high`` and ``beats``.
    """
    from m2dino.metrics.bootstrap import paired_difference

    d = paired_difference(task_id, trivial, model, n_boot=n_boot, seed=seed)
    return {"model": d["new"], "trivial": d["ref"], "diff_low": d["ci_low"], "diff_high": d["ci_high"],
            "beats": bool(np.isfinite(d["ci_low"]) and d["ci_low"] > 0)}
