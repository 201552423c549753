"""Random views of unlabelled B-mode images, batched: every image gets its own crop, flip, brightness/contrast and
blur, in a handful of tensor operations per batch.

Per-image ``torchvision.transforms.v2`` pipelines cost 15-30 ms per image here, more than the ViT's forward and
backward at the CPU profiles' sizes; ``torchvision.ops.roi_align`` crops and resizes a whole batch at once.
Ultrasound is grey: no colour jitter or solarisation.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torchvision.ops import roi_align

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def normalise(images: torch.Tensor) -> torch.Tensor:
    """uint8 (or [0, 1] float) [N, 3, H, W] -> float32 normalised with ImageNet statistics (the model's input)."""
    x = images.float() / 255 if images.dtype == torch.uint8 else images.float()
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (x - mean) / std


def crop_boxes(n: int, height: int, width: int, scale: Sequence[float],
               ratio: Sequence[float] = (3 / 4, 4 / 3)) -> torch.Tensor:
    """RandomResizedCrop's boxes for ``n`` images: [n, 4] xyxy pixels covering ``scale`` of the area."""
    area = torch.empty(n).uniform_(*scale) * height * width
    logr = torch.empty(n).uniform_(math.log(ratio[0]), math.log(ratio[1]))
    w = torch.sqrt(area * logr.exp()).clamp(max=width)
    h = torch.sqrt(area / logr.exp()).clamp(max=height)
    x0 = torch.rand(n) * (width - w)
    y0 = torch.rand(n) * (height - h)
    return torch.stack([x0, y0, x0 + w, y0 + h], dim=1)


def _blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """3x3 Gaussian blur with one sigma per image (depthwise conv over the batch folded into channels)."""
    n, c, h, w = x.shape
    k1 = torch.exp(-torch.tensor([-1.0, 0.0, 1.0]) ** 2 / (2 * sigma[:, None] ** 2))
    k1 = k1 / k1.sum(1, keepdim=True)
    k2 = (k1[:, :, None] * k1[:, None, :]).repeat_interleave(c, 0)[:, None]  # [n*c, 1, 3, 3]
    return F.conv2d(F.pad(x.reshape(1, n * c, h, w), (1, 1, 1, 1), mode="replicate"), k2, groups=n * c).view_as(x)


@dataclass(frozen=True)
class Views:
    """A random-view generator: crops of ``scale`` resized to ``size``, flipped, jittered, sometimes blurred."""

    size: int
    scale: tuple[float, float]
    jitter: float = 0.4  # brightness and contrast factors in [1 - jitter, 1 + jitter]
    blur_p: float = 0.5  # probability of a 3x3 Gaussian blur, sigma in [0.1, 1.0]

    def __call__(self, images_u8: torch.Tensor) -> torch.Tensor:
        """uint8 [N, 3, H, W] -> normalised float32 [N, 3, size, size], using torch's global RNG."""
        n, _, h, w = images_u8.shape
        x = images_u8.float() / 255
        boxes = torch.cat([torch.arange(n, dtype=torch.float32)[:, None], crop_boxes(n, h, w, self.scale)], 1)
        x = roi_align(x, boxes, output_size=self.size, spatial_scale=1.0, sampling_ratio=2, aligned=True)
        flip = torch.rand(n) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        b = torch.empty(n, 1, 1, 1).uniform_(1 - self.jitter, 1 + self.jitter)
        c = torch.empty(n, 1, 1, 1).uniform_(1 - self.jitter, 1 + self.jitter)
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = ((x * b - mean * b) * c + mean * b).clamp(0, 1)
        blur = torch.rand(n) < self.blur_p
        x = torch.where(blur[:, None, None, None], _blur(x, torch.empty(n).uniform_(0.1, 1.0)), x)
        return normalise(x)
