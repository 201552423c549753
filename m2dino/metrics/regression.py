"""Regression metric as the FMC_UIA evaluator computes it [C]: mean radial error (MRE), the Euclidean distance
between predicted and true keypoints in original-image pixels, averaged over the keypoints of an image and then over
images. Lower is better.
"""
from __future__ import annotations

import numpy as np


def check_points(points: np.ndarray, num_points: int, name: str, where: str = "") -> None:
    at = f" ({where})" if where else ""
    if points.ndim != 3 or points.shape[1:] != (num_points, 2):
        raise ValueError(f"{name} keypoints must be [N, {num_points}, 2] xy pixels{at}; got {points.shape}")
    if not np.isfinite(points).all():
        raise ValueError(f"{name} keypoints hold NaN or inf{at}")


def radial_error_per_image(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Mean over keypoints of the Euclidean distance, per image (``pred``, ``target``: [N, K, 2] pixels)."""
    return np.linalg.norm(pred.astype(np.float64) - target.astype(np.float64), axis=-1).mean(axis=1)
