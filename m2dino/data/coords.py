"""Map model outputs (normalised to the model input) back to original-image pixels, where metrics are computed.

The input is the whole image resized to a square (:mod:`m2dino.data.transforms`), so a normalised coordinate is the
same fraction of the original image: x_px = x * W0, y_px = y * H0.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def to_pixels(task_type: str, pred: torch.Tensor, orig_size: tuple[int, int]) -> torch.Tensor:
    """One image's prediction in original pixels.

    Args:
        task_type: segmentation, classification, detection or regression.
        pred: seg: logits [C, H, W] or class mask [H, W] at input size; cls: probabilities [C] (returned as is);
            det: box [4] xyxy in [0, 1]; reg: keypoints [K, 2] xy in [0, 1].
        orig_size: (H0, W0) from the item's meta.
    """
    h0, w0 = int(orig_size[0]), int(orig_size[1])
    if task_type == "segmentation":
        if pred.ndim == 3:  # logits: upsample the scores, then take the class (smoother than resizing labels)
            up = F.interpolate(pred[None].float(), size=(h0, w0), mode="bilinear", align_corners=False)[0]
            return up.argmax(0)
        return F.interpolate(pred[None, None].float(), size=(h0, w0), mode="nearest")[0, 0].to(torch.int64)
    if task_type == "classification":
        return pred
    scale = torch.tensor([w0, h0], dtype=torch.float32, device=pred.device)
    if task_type == "detection":
        return pred.float() * scale.repeat(2)
    return pred.float() * scale
