"""The headroom score: how much of the way from the trivial predictor to a perfect score a model goes (issue #11).

``s = (M - M_trivial) / (M_perfect - M_trivial)`` for Dice, AUC and IoU (perfect = 1), and ``s = 1 - MRE / MRE_trivial``
for MRE (perfect = 0, so it is the same formula). s = 0 is the trivial predictor, 1 is perfect, below 0 is worse than
trivial; it is not clipped. It is undefined (NaN) when the trivial predictor is already perfect or a value is NaN.

Why: a relative change divided by the TS score explodes near the floor, and the floors differ by metric (AUC's is 0.5,
not 0); dividing MRE by the image diagonal leaves every model near 0.95. s puts every task on the same scale, so model
selection weighs a regression task as much as a segmentation task.
"""
from __future__ import annotations

import math

PERFECT = {"dice": 1.0, "auc": 1.0, "iou": 1.0, "mre": 0.0}


def headroom_score(value: float, trivial: float, metric: str) -> float:
    """s of ``value`` against the trivial predictor's ``trivial`` on the same images, for a primary ``metric``."""
    if metric not in PERFECT:
        raise ValueError(f"no headroom score for metric {metric!r}; expected one of {sorted(PERFECT)}")
    value, trivial = float(value), float(trivial)
    room = PERFECT[metric] - trivial
    if math.isnan(value) or math.isnan(trivial) or room == 0:
        return float("nan")
    return (value - trivial) / room
