"""One head per task, on the shared multi-level feature maps (a list of [B, C_i, h_i, w_i]).

Every head has ``forward(feats, size) -> prediction`` (``size``: the input's (H, W)) and ``loss(pred, target)``.
Outputs follow the model contract: coordinates are normalised to [0, 1] of the input.

- Segmentation [S + ours]: a light DPT-style decoder. Each level is projected (1x1) and resampled to 4x, 2x, 1x and
  0.5x of its grid (DPT's reassemble), then fused coarse-to-fine with residual conv units; logits are predicted at the
  finest fused scale and upsampled bilinearly to the input size. Loss: cross-entropy + Dice (the study's Dice [S];
  adding CE is ours), Dice from segmentation-models-pytorch.
- Classification [ours]: global average pooling of every level, concatenated, LayerNorm, linear; cross-entropy.
- Detection (one box per image) [ours]: a centre heatmap whose soft-argmax gives the box centre, and the box size
  regressed from features pooled with the same heatmap weights; loss L1 + generalised IoU (torchvision.ops), with
  DETR's weights 5 and 2.
- Regression (keypoints) [ours]: one heatmap per keypoint at 1/4 of the input, soft-argmax to normalised coordinates,
  L1 loss on the coordinates (so errors map directly to pixels of the input).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from segmentation_models_pytorch.losses import DiceLoss
from torch import nn
from torchvision.ops import generalized_box_iou_loss

from m2dino.registry import Task

Size = tuple[int, int]
DEFAULT_LOSS_WEIGHTS = {"seg_ce": 1.0, "seg_dice": 1.0, "det_l1": 5.0, "det_giou": 2.0, "reg_l1": 5.0}


class ResidualConvUnit(nn.Module):
    """DPT's residual conv unit: x + conv(relu(conv(relu(x))))."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(ch, ch, 3, padding=1)
        self.conv2 = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


def _resample(ch_in: int, ch: int, factor: float) -> nn.Module:
    """1x1 projection followed by DPT's reassemble resampling by ``factor`` (4, 2, 1 or 0.5, ...)."""
    proj = nn.Conv2d(ch_in, ch, 1)
    if factor > 1:
        f = int(factor)
        return nn.Sequential(proj, nn.ConvTranspose2d(ch, ch, f, stride=f))
    if factor < 1:
        s = int(round(1 / factor))
        return nn.Sequential(proj, nn.Conv2d(ch, ch, 3, stride=s, padding=1))
    return proj


class DPTSegHead(nn.Module):
    """Light DPT-style decoder: reassemble each level at its own scale, fuse coarse-to-fine, predict, upsample."""

    def __init__(self, in_channels: Sequence[int], num_classes: int, dim: int,
                 weights: Mapping[str, float] = DEFAULT_LOSS_WEIGHTS) -> None:
        super().__init__()
        n = len(in_channels)
        factors = [2.0 ** (2 - i) for i in range(n)]  # 4, 2, 1, 0.5 for four levels, as in DPT
        self.reassemble = nn.ModuleList(_resample(c, dim, f) for c, f in zip(in_channels, factors))
        self.fuse_skip = nn.ModuleList(ResidualConvUnit(dim) for _ in range(n))
        self.fuse_out = nn.ModuleList(ResidualConvUnit(dim) for _ in range(n))
        self.classifier = nn.Sequential(nn.Conv2d(dim, dim, 3, padding=1), nn.ReLU(), nn.Conv2d(dim, num_classes, 1))
        self.dice = DiceLoss(mode="multiclass", from_logits=True)
        self.w_ce, self.w_dice = float(weights["seg_ce"]), float(weights["seg_dice"])

    def forward(self, feats: Sequence[torch.Tensor], size: Size) -> torch.Tensor:
        maps = [r(f) for r, f in zip(self.reassemble, feats)]
        x = None
        for i in reversed(range(len(maps))):  # coarse to fine
            skip = self.fuse_skip[i](maps[i])
            x = skip if x is None else skip + F.interpolate(x, size=skip.shape[-2:], mode="bilinear",
                                                            align_corners=False)
            x = self.fuse_out[i](x)
        return F.interpolate(self.classifier(x), size=size, mode="bilinear", align_corners=False)

    def loss(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        target = target.long()
        return self.w_ce * F.cross_entropy(pred, target) + self.w_dice * self.dice(pred, target)


class ClsHead(nn.Module):
    """Pooled multi-level features -> LayerNorm -> linear."""

    def __init__(self, in_channels: Sequence[int], num_classes: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(sum(in_channels))
        self.fc = nn.Linear(sum(in_channels), num_classes)

    def forward(self, feats: Sequence[torch.Tensor], size: Size) -> torch.Tensor:
        return self.fc(self.norm(torch.cat([f.mean(dim=(-2, -1)) for f in feats], dim=1)))

    def loss(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(pred, target.long().view(-1))


class FuseMaps(nn.Module):
    """Project every level to ``dim`` channels, resize to 1/4 of the input, sum, refine with a conv."""

    def __init__(self, in_channels: Sequence[int], dim: int) -> None:
        super().__init__()
        self.proj = nn.ModuleList(nn.Conv2d(c, dim, 1) for c in in_channels)
        self.refine = nn.Sequential(nn.Conv2d(dim, dim, 3, padding=1), nn.GELU())

    def forward(self, feats: Sequence[torch.Tensor], size: Size) -> torch.Tensor:
        out = (max(1, size[0] // 4), max(1, size[1] // 4))
        x = sum(F.interpolate(p(f), size=out, mode="bilinear", align_corners=False) for p, f in zip(self.proj, feats))
        return self.refine(x)


def soft_argmax(heat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Expected (x, y) of each heatmap's spatial softmax, normalised to [0, 1] (pixel centres); also the weights.

    Args:
        heat: logits [B, K, h, w].

    Returns:
        xy [B, K, 2] and the softmax weights [B, K, h, w].
    """
    b, k, h, w = heat.shape
    p = heat.flatten(2).float().softmax(dim=-1).view(b, k, h, w)
    xs = (torch.arange(w, device=heat.device, dtype=p.dtype) + 0.5) / w
    ys = (torch.arange(h, device=heat.device, dtype=p.dtype) + 0.5) / h
    x = (p.sum(dim=2) * xs).sum(dim=-1)
    y = (p.sum(dim=3) * ys).sum(dim=-1)
    return torch.stack([x, y], dim=-1), p


class DetHead(nn.Module):
    """One box per image: soft-argmax centre + size from heatmap-pooled features; xyxy in [0, 1]."""

    def __init__(self, in_channels: Sequence[int], dim: int,
                 weights: Mapping[str, float] = DEFAULT_LOSS_WEIGHTS) -> None:
        super().__init__()
        self.fuse = FuseMaps(in_channels, dim)
        self.heat = nn.Conv2d(dim, 1, 1)
        self.size = nn.Linear(dim, 2)
        self.w_l1, self.w_giou = float(weights["det_l1"]), float(weights["det_giou"])

    def forward(self, feats: Sequence[torch.Tensor], size: Size) -> torch.Tensor:
        x = self.fuse(feats, size)
        centre, p = soft_argmax(self.heat(x))  # [B, 1, 2], [B, 1, h, w]
        pooled = (x.float() * p).sum(dim=(-2, -1))  # [B, dim]
        wh = torch.sigmoid(self.size(pooled.to(x.dtype)).float())
        c = centre[:, 0]
        return torch.cat([c - wh / 2, c + wh / 2], dim=-1).clamp(0.0, 1.0)

    def loss(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        pred, target = pred.float(), target.float().view(-1, 4)
        return (self.w_l1 * F.l1_loss(pred, target)
                + self.w_giou * generalized_box_iou_loss(pred, target, reduction="mean"))


class RegHead(nn.Module):
    """K keypoints: one heatmap each at 1/4 input resolution, soft-argmax to xy in [0, 1]."""

    def __init__(self, in_channels: Sequence[int], num_points: int, dim: int,
                 weights: Mapping[str, float] = DEFAULT_LOSS_WEIGHTS) -> None:
        super().__init__()
        self.fuse = FuseMaps(in_channels, dim)
        self.heat = nn.Conv2d(dim, num_points, 1)
        self.w_l1 = float(weights["reg_l1"])

    def forward(self, feats: Sequence[torch.Tensor], size: Size) -> torch.Tensor:
        return soft_argmax(self.heat(self.fuse(feats, size)))[0]

    def loss(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.w_l1 * F.l1_loss(pred.float(), target.float())


def build_head(task: Task, in_channels: Sequence[int], dim: int,
               weights: Mapping[str, float] = DEFAULT_LOSS_WEIGHTS,
               seg_head: type[nn.Module] = DPTSegHead) -> nn.Module:
    """The head for ``task`` (from the registry), on features with ``in_channels``."""
    w = {**DEFAULT_LOSS_WEIGHTS, **dict(weights)}
    if task.type == "segmentation":
        return seg_head(in_channels, task.num_classes, dim, weights=w)
    if task.type == "classification":
        return ClsHead(in_channels, task.num_classes)
    if task.type == "detection":
        return DetHead(in_channels, dim, weights=w)
    if task.type == "regression":
        return RegHead(in_channels, task.num_classes, dim, weights=w)
    raise ValueError(f"task {task.id!r}: unknown type {task.type!r}")
