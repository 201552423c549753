"""Map model outputs and targets (normalised to the model input) back to original-image pixels, where metrics are
computed. The one rule for prediction to pixels; training evaluation, ``predict`` and the trivial predictor use it.

The input is the whole image resized to a square (:mod:`m2dino.data.transforms`), so a normalised coordinate is the
same fraction of the original image: x_px = x * W0, y_px = y * H0 (docs/data-contract.md).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F


def pixel_scale(orig_size) -> np.ndarray:
    """(W0, H0) of ``orig_size`` = (H0, W0): multiplies normalised (x, y) into pixels."""
    h0, w0 = (int(v) for v in orig_size)
    return np.array([w0, h0], dtype=np.float64)


def box_to_pixels(box: np.ndarray, orig_size) -> np.ndarray:
    """A normalised xyxy box (float64) -> pixels of the original image."""
    return box * np.tile(pixel_scale(orig_size), 2)


def points_to_pixels(points: np.ndarray, orig_size) -> np.ndarray:
    """Normalised (x, y) keypoints (float64, flat or [K,2]) -> [K,2] pixels of the original image."""
    return points.reshape(-1, 2) * pixel_scale(orig_size)


def _mask_from_logits(out: torch.Tensor, orig_size) -> np.ndarray:
    h0, w0 = (int(v) for v in orig_size)
    mask = out.argmax(0)[None, None].float()
    return F.interpolate(mask, size=(h0, w0), mode="nearest")[0, 0].to(torch.int64).numpy()


# Model output (float32 on the CPU) -> what the metric code scores, in original pixels; one entry per task type.
OUTPUT_TO_ORIGINAL: dict[str, Callable[[torch.Tensor, Sequence[int]], np.ndarray]] = {
    "segmentation": _mask_from_logits,  # logits [C,H,W] -> int mask [H0,W0] (argmax, then nearest resize)
    "classification": lambda out, size: out.softmax(-1).numpy().astype(np.float64),  # logits [C] -> probs [C]
    "detection": lambda out, size: box_to_pixels(out.numpy().astype(np.float64).clip(0, 1), size),  # xyxy px
    "regression": lambda out, size: points_to_pixels(out.numpy().astype(np.float64), size),  # [K,2] xy px
}


def to_original(task_type: str, out: torch.Tensor, orig_size) -> np.ndarray:
    """One image's model output as the metric code wants it, in the original image's pixels
    (:data:`OUTPUT_TO_ORIGINAL`): seg: logits -> int mask; cls: logits -> probs; det: box in [0,1] -> pixels xyxy;
    reg: points in [0,1] -> pixels xy."""
    if task_type not in OUTPUT_TO_ORIGINAL:
        raise ValueError(f"unknown task type {task_type!r}")
    return OUTPUT_TO_ORIGINAL[task_type](out.detach().float().cpu(), orig_size)


def target_to_original(task_type: str, target: torch.Tensor, orig_size) -> np.ndarray | int:
    """A dataset target (model resolution, normalised coordinates) mapped to original pixels.

    Exact for labels, boxes and points; for masks, a nearest resize of the resized mask, which is exact only when the
    dataset did not resize (``m2dino.data.truth`` reads the true original mask from the dataset's records).
    """
    target = torch.as_tensor(target)
    if task_type == "segmentation":
        h0, w0 = (int(v) for v in orig_size)
        if tuple(target.shape[-2:]) == (h0, w0):
            return target.to(torch.int64).numpy()
        m = F.interpolate(target[None, None].float(), size=(h0, w0), mode="nearest")[0, 0]
        return m.to(torch.int64).numpy()
    if task_type == "classification":
        return int(target)
    if task_type == "detection":
        return box_to_pixels(target.double().numpy(), orig_size)
    return points_to_pixels(target.double().numpy(), orig_size)
