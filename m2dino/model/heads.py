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


def grid_coords(h: int, w: int, like: torch.Tensor) -> torch.Tensor:
    """[2, h, w]: the (x, y) centre of every cell of an h x w grid, normalised to [0, 1] of the image."""
    xs = (torch.arange(w, device=like.device, dtype=like.dtype) + 0.5) / w
    ys = (torch.arange(h, device=like.device, dtype=like.dtype) + 0.5) / h
    return torch.stack([xs.view(1, w).expand(h, w), ys.view(h, 1).expand(h, w)])


class ClsHead(nn.Module):
    """Globally pooled multi-level features plus a position-keeping summary -> LayerNorm -> linear.

    The position-keeping part projects the deepest level to ``dim`` channels and average-pools it to a fixed
    ``grid`` x ``grid`` layout before flattening, so classes defined by where something lies (fetal head or sacrum
    position, injury level) stay separable; global pooling alone throws that away.
    """

    def __init__(self, in_channels: Sequence[int], num_classes: int, dim: int = 32, grid: int = 4) -> None:
        super().__init__()
        self.grid = int(grid)
        self.spatial = nn.Conv2d(in_channels[-1], dim, 1) if self.grid > 0 else None
        n = sum(in_channels) + (dim * self.grid ** 2 if self.grid > 0 else 0)
        self.norm = nn.LayerNorm(n)
        self.fc = nn.Linear(n, num_classes)

    def forward(self, feats: Sequence[torch.Tensor], size: Size) -> torch.Tensor:
        parts = [f.mean(dim=(-2, -1)) for f in feats]
        if self.spatial is not None:
            parts.append(F.adaptive_avg_pool2d(self.spatial(feats[-1]), self.grid).flatten(1))
        return self.fc(self.norm(torch.cat(parts, dim=1)))

    def loss(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(pred, target.long().view(-1))


class ImageStem(nn.Module):
    """A light conv stem on the input image, down to 1/4 of its size: the fine detail (a small lesion's edge) that
    16-pixel patches blur, skipped past the backbone into a head."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(3, ch, 3, stride=2, padding=1), nn.GELU(),
                                 nn.Conv2d(ch, ch, 3, stride=2, padding=1), nn.GELU())

    def forward(self, image: torch.Tensor, out: Size) -> torch.Tensor:
        x = self.net(image)
        return x if tuple(x.shape[-2:]) == tuple(out) else F.interpolate(x, size=out, mode="bilinear",
                                                                          align_corners=False)


class FuseMaps(nn.Module):
    """Project every level to ``dim`` channels, resize to 1/4 of the input, sum, append the two coordinate channels
    (the DINOv3 ViT has no absolute position embedding, so without them a conv cannot tell where it is) and, with
    ``stem`` > 0 channels, the image stem's map; refine with a 3x3 conv."""

    def __init__(self, in_channels: Sequence[int], dim: int, stem: int = 0) -> None:
        super().__init__()
        self.proj = nn.ModuleList(nn.Conv2d(c, dim, 1) for c in in_channels)
        self.stem = ImageStem(stem) if stem > 0 else None
        self.refine = nn.Sequential(nn.Conv2d(dim + 2 + max(0, stem), dim, 3, padding=1), nn.GELU())

    def forward(self, feats: Sequence[torch.Tensor], size: Size, image: torch.Tensor | None = None) -> torch.Tensor:
        out = (max(1, size[0] // 4), max(1, size[1] // 4))
        x = sum(F.interpolate(p(f), size=out, mode="bilinear", align_corners=False) for p, f in zip(self.proj, feats))
        parts = [x, grid_coords(*out, x).unsqueeze(0).expand(x.shape[0], -1, -1, -1)]
        if self.stem is not None:
            if image is None:
                raise ValueError("this head has an image stem: call it with image=")
            parts.append(self.stem(image.to(x.dtype), out))
        return self.refine(torch.cat(parts, dim=1))


class WherePool(nn.Module):
    """K spatial softmax maps ("where to look"), zero-initialised so that they start uniform.

    Returns, per map, the softmax-weighted features [B, K, dim] and the weighted cell position minus the grid's centre
    [B, K, 2] (a soft-argmax that is exactly 0 at initialisation).
    """

    def __init__(self, dim: int, k: int) -> None:
        super().__init__()
        self.logits = nn.Conv2d(dim, k, 1)
        nn.init.zeros_(self.logits.weight)
        nn.init.zeros_(self.logits.bias)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, _, h, w = x.shape
        p = self.logits(x).flatten(2).float().softmax(dim=-1)  # [B, K, h*w]
        coords = grid_coords(h, w, p).flatten(1)  # [2, h*w]
        coords = coords - coords.mean(dim=1, keepdim=True)
        feats = torch.einsum("bkn,bdn->bkd", p, x.flatten(2).float())
        return feats, torch.einsum("bkn,cn->bkc", p, coords)


class GridSummary(nn.Module):
    """The fused map average-pooled to a fixed ``grid`` x ``grid`` layout, flattened and normalised: a global view
    that keeps coarse position (what a linear probe on all patch tokens sees), whatever the input size."""

    def __init__(self, dim: int, grid: int = 4) -> None:
        super().__init__()
        self.grid = int(grid)
        self.norm = nn.LayerNorm(dim * self.grid ** 2)
        self.out_dim = dim * self.grid ** 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(F.adaptive_avg_pool2d(x, self.grid).flatten(1).float())


class _PriorMixin:
    """A head that starts at a prior (the training-set mean box or keypoints), kept as a buffer so checkpoints carry
    it. :func:`set_head_priors` fills it from the training targets before training."""

    prior: torch.Tensor

    def set_prior(self, value) -> None:
        value = torch.as_tensor(value, dtype=torch.float32).reshape(self.prior.shape)
        if not torch.isfinite(value).all():
            raise ValueError(f"{type(self).__name__}: prior {value.tolist()} is not finite")
        self.prior.copy_(value)


class DetHead(_PriorMixin, nn.Module):
    """One box per image as an offset from the training-set mean box: centre = mean centre + soft-argmax offset +
    linear correction, size = mean size x exp(linear log-ratio). Zero-initialised, so it starts at the mean box;
    nothing is clamped (gradients reach every box). Output xyxy, normalised to the input."""

    LOG_RATIO_MAX = 4.0  # a box at most e^4 (55x) larger or smaller than the mean box per side

    def __init__(self, in_channels: Sequence[int], dim: int,
                 weights: Mapping[str, float] = DEFAULT_LOSS_WEIGHTS, stem: int = 0) -> None:
        super().__init__()
        self.uses_image = stem > 0
        self.fuse = FuseMaps(in_channels, dim, stem)
        self.where = WherePool(dim, 1)
        self.summary = GridSummary(dim)
        self.box = nn.Linear(dim + self.summary.out_dim, 4)
        nn.init.zeros_(self.box.weight)
        nn.init.zeros_(self.box.bias)
        self.register_buffer("prior", torch.tensor([0.25, 0.25, 0.75, 0.75]))  # xyxy; set_prior replaces it
        self.w_l1, self.w_giou = float(weights["det_l1"]), float(weights["det_giou"])

    def forward(self, feats: Sequence[torch.Tensor], size: Size, image: torch.Tensor | None = None) -> torch.Tensor:
        x = self.fuse(feats, size, image)
        f, s = self.where(x)
        d = self.box(torch.cat([f[:, 0], self.summary(x)], dim=1))  # [B, 4]: centre offset (x, y), log size ratio
        prior = self.prior.float()
        centre = (prior[:2] + prior[2:]) / 2 + s[:, 0] + d[:, :2]
        wh = (prior[2:] - prior[:2]) * torch.exp(d[:, 2:].clamp(-self.LOG_RATIO_MAX, self.LOG_RATIO_MAX))
        return torch.cat([centre - wh / 2, centre + wh / 2], dim=-1)

    def loss(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        pred, target = pred.float(), target.float().view(-1, 4)
        return (self.w_l1 * F.l1_loss(pred, target)
                + self.w_giou * generalized_box_iou_loss(pred, target, reduction="mean"))


class RegHead(_PriorMixin, nn.Module):
    """K keypoints as offsets from the training-set mean keypoints: mean + soft-argmax offset of the keypoint's own
    where-map + a linear correction from the features it pools. Zero-initialised, so it starts at the mean keypoints.
    Output xy normalised to the input."""

    def __init__(self, in_channels: Sequence[int], num_points: int, dim: int,
                 weights: Mapping[str, float] = DEFAULT_LOSS_WEIGHTS, stem: int = 0) -> None:
        super().__init__()
        self.uses_image = stem > 0
        self.fuse = FuseMaps(in_channels, dim, stem)
        self.where = WherePool(dim, num_points)
        self.offset = nn.Parameter(torch.zeros(num_points, dim, 2))
        self.summary = GridSummary(dim)
        self.global_offset = nn.Linear(self.summary.out_dim, 2 * num_points)
        nn.init.zeros_(self.global_offset.weight)
        nn.init.zeros_(self.global_offset.bias)
        self.register_buffer("prior", torch.full((num_points, 2), 0.5))  # set_prior replaces it
        self.w_l1 = float(weights["reg_l1"])

    def forward(self, feats: Sequence[torch.Tensor], size: Size, image: torch.Tensor | None = None) -> torch.Tensor:
        x = self.fuse(feats, size, image)
        f, s = self.where(x)
        glob = self.global_offset(self.summary(x)).view(x.shape[0], -1, 2)
        return self.prior.float() + s + torch.einsum("bkd,kdc->bkc", f, self.offset.float()) + glob

    def loss(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.w_l1 * F.l1_loss(pred.float(), target.float())


def build_head(task: Task, in_channels: Sequence[int], dim: int,
               weights: Mapping[str, float] = DEFAULT_LOSS_WEIGHTS,
               seg_head: type[nn.Module] = DPTSegHead, stem: int = 0) -> nn.Module:
    """The head for ``task`` (from the registry), on features with ``in_channels``; ``stem`` > 0 gives detection and
    regression heads an image stem of that many channels (``model.heads.stem_dim``)."""
    w = {**DEFAULT_LOSS_WEIGHTS, **dict(weights)}
    if task.type == "segmentation":
        return seg_head(in_channels, task.num_classes, dim, weights=w)
    if task.type == "classification":
        return ClsHead(in_channels, task.num_classes, dim)
    if task.type == "detection":
        return DetHead(in_channels, dim, weights=w, stem=stem)
    if task.type == "regression":
        return RegHead(in_channels, task.num_classes, dim, weights=w, stem=stem)
    raise ValueError(f"task {task.id!r}: unknown type {task.type!r}")
