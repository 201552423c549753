"""Detection metric as the FMC_UIA evaluator computes it [C]: IoU of the predicted and true box (xyxy, original-image
pixels), one box per image, averaged over images.

IoU is ``torchvision.ops.box_iou``, whose formula is the challenge's; where the union has zero area (two degenerate
boxes) the challenge scores 0 and so do we. A box with x_max < x_min or y_max < y_min is refused [ours]: the
challenge's formula would give it a negative area and a meaningless IoU.
"""
from __future__ import annotations

import numpy as np

_CHUNK = 1024  # box_iou builds an N x M matrix; pair images in blocks and keep the diagonal


def check_boxes(boxes: np.ndarray, name: str, where: str = "") -> None:
    at = f" ({where})" if where else ""
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"{name} boxes must be [N, 4] xyxy pixels{at}; got {boxes.shape}")
    if not np.isfinite(boxes).all():
        raise ValueError(f"{name} boxes hold NaN or inf{at}")
    bad = np.flatnonzero((boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1]))
    if bad.size:
        raise ValueError(f"{name} box {bad[0]} is not xyxy with x_min <= x_max, y_min <= y_max{at}: "
                         f"{boxes[bad[0]].tolist()}")


def iou_per_image(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """IoU of ``pred[i]`` with ``target[i]`` for every image i (both [N, 4] xyxy pixels)."""
    import torch  # imported here: torchvision takes seconds to import, and only detection needs it
    from torchvision.ops import box_iou

    p = torch.as_tensor(pred, dtype=torch.float64)
    t = torch.as_tensor(target, dtype=torch.float64)
    out = torch.cat([box_iou(p[i:i + _CHUNK], t[i:i + _CHUNK]).diagonal() for i in range(0, len(p), _CHUNK)])
    return torch.nan_to_num(out, nan=0.0).numpy()
