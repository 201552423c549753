"""Segmentation metrics as the FMC_UIA evaluator computes them [C], plus HD95 [ours].

Per image and per class (background included in the computation, excluded from the average):
- Dice = 2|P∩T| / (|P|+|T|), and 1 when the class is absent from both prediction and truth.
- Hausdorff distance (full, not a percentile) between the two pixel sets, in original-image pixels: 0 when both are
  empty, the image diagonal sqrt(H²+W²) when exactly one is. Like the challenge's SimpleITK
  ``HausdorffDistanceImageFilter``, it is taken over all foreground pixels of each mask (not only their contours), with
  unit spacing; we compute it exactly with scipy's Euclidean distance transform.
- HD95 [ours]: the 95th percentile of contour-to-contour distances, the larger of the two directed percentiles (the
  MONAI ``compute_hausdorff_distance(percentile=95)`` convention; contour = mask minus its 4-connected erosion). The
  empty rules are those of the full HD.

Task summary: each class is averaged over images, then the non-background classes are averaged. Every image
contributes a value for every class (the empty rules guarantee it), so this equals the mean over images of each
image's non-background class mean; the per-image table stores that per-image mean so any resample of images
reproduces the challenge's number.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

_CROSS = ndimage.generate_binary_structure(2, 1)


def check_masks(pred: np.ndarray, target: np.ndarray, num_classes: int, where: str = "") -> None:
    """Clear errors for masks the metrics cannot score."""
    at = f" ({where})" if where else ""
    if pred.ndim != 2 or target.ndim != 2:
        raise ValueError(f"segmentation masks must be 2-D [H, W]{at}; got prediction {pred.shape}, truth {target.shape}")
    if pred.shape != target.shape:
        raise ValueError(f"prediction mask {pred.shape} and truth {target.shape} differ in size{at}; predictions "
                         "must be at the original image size")
    for name, m in (("prediction", pred), ("truth", target)):
        if not np.issubdtype(m.dtype, np.integer) and not np.issubdtype(m.dtype, np.bool_):
            raise ValueError(f"{name} mask must hold integer class indices{at}; got dtype {m.dtype}")
        bad = np.unique(m[(m < 0) | (m >= num_classes)]) if m.size else []
        if len(bad):
            raise ValueError(f"{name} mask holds class(es) {[int(v) for v in bad[:5]]} outside 0..{num_classes - 1}{at}")


def dice_per_class(pred: np.ndarray, target: np.ndarray, num_classes: int) -> np.ndarray:
    """Dice of every class (background at index 0) in one image; 1 where a class is absent from both."""
    cm = np.bincount(target.ravel().astype(np.int64) * num_classes + pred.ravel().astype(np.int64),
                     minlength=num_classes * num_classes).reshape(num_classes, num_classes)
    inter = np.diag(cm).astype(np.float64)
    denom = cm.sum(0) + cm.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom == 0, 1.0, 2.0 * inter / denom)


def _crop_to_union(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both masks cropped to the bounding box of their union plus a 1-pixel margin (distances are unchanged, and a
    crop edge is either the image edge or a row/column outside both masks, so contours are unchanged too)."""
    union = a | b
    rows, cols = np.flatnonzero(union.any(1)), np.flatnonzero(union.any(0))
    r0, r1 = max(rows[0] - 1, 0), min(rows[-1] + 2, a.shape[0])
    c0, c1 = max(cols[0] - 1, 0), min(cols[-1] + 2, a.shape[1])
    return a[r0:r1, c0:c1], b[r0:r1, c0:c1]


def _distances_to(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Euclidean distance from each pixel of ``src`` to the nearest pixel of ``dst`` (non-empty)."""
    return ndimage.distance_transform_edt(~dst)[src]


def _contour(m: np.ndarray) -> np.ndarray:
    return m & ~ndimage.binary_erosion(m, structure=_CROSS, border_value=0)


def hausdorff_pair(pred: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    """(HD, HD95) between two boolean masks of one class, in pixels, with the challenge's empty rules."""
    n_p, n_t = int(pred.sum()), int(target.sum())
    if n_p == 0 and n_t == 0:
        return 0.0, 0.0
    if n_p == 0 or n_t == 0:
        diag = float(np.hypot(*pred.shape))
        return diag, diag
    p, t = _crop_to_union(pred, target)
    hd = max(_distances_to(p, t).max(), _distances_to(t, p).max())
    cp, ct = _contour(p), _contour(t)
    hd95 = max(np.percentile(_distances_to(cp, ct), 95), np.percentile(_distances_to(ct, cp), 95))
    return float(hd), float(hd95)


def image_scores(pred: np.ndarray, target: np.ndarray, num_classes: int) -> dict[str, float]:
    """One image's scores: ``dice``, ``hd``, ``hd95`` (means over the non-background classes) and per class
    ``dice_c{k}``, ``hd_c{k}``, ``hd95_c{k}`` for k = 1..num_classes-1."""
    dice = dice_per_class(pred, target, num_classes)[1:]
    hd, hd95 = np.zeros(num_classes - 1), np.zeros(num_classes - 1)
    for k in range(1, num_classes):
        hd[k - 1], hd95[k - 1] = hausdorff_pair(pred == k, target == k)
    row = {"dice": float(dice.mean()), "hd": float(hd.mean()), "hd95": float(hd95.mean())}
    for k in range(1, num_classes):
        row[f"dice_c{k}"], row[f"hd_c{k}"], row[f"hd95_c{k}"] = float(dice[k - 1]), float(hd[k - 1]), float(hd95[k - 1])
    return row


def per_class_summary(rows: list[dict[str, float]], num_classes: int, metric: str) -> np.ndarray:
    """Each non-background class's ``metric`` averaged over images, in the challenge's order (images first)."""
    return np.array([np.mean([r[f"{metric}_c{k}"] for r in rows]) for k in range(1, num_classes)])


def summary(rows: list[dict[str, float]], num_classes: int) -> dict[str, float]:
    """Task summary: per class over images, then over the non-background classes (the challenge's order)."""
    return {m: float(per_class_summary(rows, num_classes, m).mean()) for m in ("dice", "hd", "hd95")}
