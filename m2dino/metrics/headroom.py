"""The headroom score s: a task's primary metric on a bounded scale between the trivial predictor and perfection.

    s = (M - M_trivial) / (M_perfect - M_trivial)

- Dice, IoU, accuracy and AUC: M_perfect = 1. AUC's trivial value is 0.5 (the majority / class-prior predictor gives
  every image the same scores, so it ranks nothing); a NaN trivial AUC is taken as 0.5.
- MRE: M_perfect = 0, so s = 1 - MRE / MRE_trivial.

s = 0 is the trivial predictor, s = 1 a perfect model, s < 0 worse than trivial. Unlike the relative change
(M - M_TS) / M_TS, a difference of s between two models never divides by a model's own score, so it stays bounded
near the floor and treats AUC's floor (0.5) and Dice's (0) alike. Why it is the primary effect: docs/analysis.md.

The ONE criterion for "a model beats the trivial predictor" is ``m2dino.metrics.bootstrap.beats_trivial`` (with the
metrics, so that the trainer's result tables and the analysis use the same function): the notebooks, the
``beats_trivial.csv`` table and the claims restricted to tasks where TS beats trivial all call it.
"""
from __future__ import annotations

import numpy as np

from m2dino.registry import get_task

PERFECT = {"dice": 1.0, "iou": 1.0, "accuracy": 1.0, "auc": 1.0, "mre": 0.0}
CHANCE_AUC = 0.5


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
