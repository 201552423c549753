"""Joint geometry for images and their masks, boxes and keypoints (torchvision.transforms.v2 on tv_tensors).

A sample passes three stages:
1. ``resize``: the whole image is resized to ``image_size`` x ``image_size`` (aspect ratio not kept, as the FMC_UIA
   baseline does), so coordinates normalised to the model input equal coordinates normalised to the original image:
   x_orig = x_norm * W0, y_orig = y_norm * H0 (:mod:`m2dino.data.coords`). Deterministic, so cacheable.
2. ``augment`` (training only), suited to ultrasound: small rotation, scale and shift; gain and contrast; horizontal
   flip only for tasks whose labels survive it; never a vertical flip (the sector's apex stays on top).
3. ``finish``: 3 channels, float, ImageNet mean/std (the DINOv3 convention); targets to the item contract.

Horizontal flip policy [ours], configurable with ``data.augment.no_hflip``. Disabled for:
- fetal_head_pos_cls, fetal_sacral_pos_cls: their classes encode left/right positions, so a flip would change the
  label (a remap would need the class-to-position table, which the release does not document);
- fetal_femur, FUGC, IUGC: their keypoints are ordered by position in the image (in the synthetic data point 1 is
  always the left one), so a flip would swap them; measured at demo, allowing the flip made the model predict both
  points at the centre (FUGC MRE 12.4 px against 7.4 px without it);
- cardiac_multi: apical views have a fixed orientation (left heart on the image's right); a mirrored heart never
  occurs in practice.
Allowed elsewhere: masks and boxes stay correct under a mirror, and mirrored acquisitions occur (probe orientation
varies between operators).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
NO_HFLIP = ("fetal_head_pos_cls", "fetal_sacral_pos_cls", "fetal_femur", "FUGC", "IUGC", "cardiac_multi")


@dataclass(frozen=True)
class AugmentConfig:
    """Training augmentation; mirrors ``cfg.data.augment``."""

    enabled: bool = True
    rotate_deg: float = 10.0  # rotation drawn in [-d, d] degrees
    scale: tuple[float, float] = (0.9, 1.1)  # zoom range
    translate: float = 0.05  # shift, fraction of the side
    gain: float = 0.2  # brightness factor drawn in [1-g, 1+g] (overall receiver gain)
    contrast: float = 0.2  # contrast factor drawn in [1-c, 1+c]
    hflip_p: float = 0.5  # probability of a horizontal flip where allowed
    no_hflip: tuple[str, ...] = NO_HFLIP

    @classmethod
    def from_cfg(cls, node: Any | None) -> AugmentConfig:
        if node is None:
            return cls()
        d = dict(node)
        if "scale" in d:
            d["scale"] = tuple(d["scale"])
        if "no_hflip" in d:
            d["no_hflip"] = tuple(d["no_hflip"])
        return cls(**d)


def hflip_allowed(task_id: str, aug: AugmentConfig) -> bool:
    return task_id not in aug.no_hflip and aug.hflip_p > 0


def resize(image_size: int) -> v2.Transform:
    """Stage 1: every tv_tensor to ``image_size`` squared (masks nearest, images antialiased bilinear)."""
    return v2.Resize((image_size, image_size), antialias=True)


def augment(task_id: str, aug: AugmentConfig) -> v2.Transform:
    """Stage 2 (training): joint random geometry, then photometric changes of the image only."""
    if not aug.enabled:
        return v2.Identity()
    ops: list[v2.Transform] = [
        v2.RandomAffine(degrees=aug.rotate_deg, translate=(aug.translate, aug.translate), scale=aug.scale, fill=0),
    ]
    if hflip_allowed(task_id, aug):
        ops.append(v2.RandomHorizontalFlip(p=aug.hflip_p))
    ops += [v2.ColorJitter(brightness=aug.gain, contrast=aug.contrast), v2.ClampBoundingBoxes(),
            v2.ClampKeyPoints()]
    return v2.Compose(ops)


_NORMALISE = v2.Compose([v2.ToDtype(torch.float32, scale=True), v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)])


def finish(sample: dict[str, Any], task_type: str, normalise: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Stage 3: the model's image (float32 [3, S, S], normalised) and the contract's target. ``normalise=False``
    leaves the image as it is, on 3 channels (a batch is normalised at once: m2dino.data.batch_augment)."""
    img = sample["image"]
    if img.shape[0] == 1:
        img = img.expand(3, -1, -1)
    if not normalise:
        image = img.as_subclass(torch.Tensor)
    else:
        image = _NORMALISE(tv_tensors.Image(img)).as_subclass(torch.Tensor).contiguous()
    h, w = img.shape[-2:]
    if task_type == "segmentation":
        target = sample["mask"].as_subclass(torch.Tensor)[0].to(torch.int64)
    elif task_type == "classification":
        target = torch.tensor(sample["label"], dtype=torch.int64)
    elif task_type == "detection":
        box = sample["box"].as_subclass(torch.Tensor).reshape(4).to(torch.float32)
        target = box / torch.tensor([w, h, w, h], dtype=torch.float32)
    else:
        pts = sample["points"].as_subclass(torch.Tensor).to(torch.float32)
        target = pts / torch.tensor([w, h], dtype=torch.float32)
    return image, target


def to_tv(image: torch.Tensor, task_type: str, target: Any, size_hw: tuple[int, int]) -> dict[str, Any]:
    """Wrap a decoded uint8 image [C, H, W] and its target (original pixels) as tv_tensors."""
    out: dict[str, Any] = {"image": tv_tensors.Image(image)}
    if task_type == "segmentation":
        out["mask"] = tv_tensors.Mask(torch.as_tensor(target, dtype=torch.uint8)[None])
    elif task_type == "classification":
        out["label"] = int(target)
    elif task_type == "detection":
        out["box"] = tv_tensors.BoundingBoxes(torch.tensor([target], dtype=torch.float32), format="XYXY",
                                              canvas_size=size_hw)
    else:
        out["points"] = tv_tensors.KeyPoints(torch.tensor(target, dtype=torch.float32), canvas_size=size_hw)
    return out
