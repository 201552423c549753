"""The FMC_UIA challenge's public baseline [C] in our pipeline: EfficientNet-B4 encoder + FPN decoder (smp).

``model=fmc_baseline``. The encoder (``model.encoder``; ``model.arch`` is the profile's ViT name and is ignored)
is built with ``encoder_weights=None`` (nothing is downloaded); ``model.weights`` may name a local encoder state dict
(``.pth``/``.safetensors``; keys of the encoder, or of a whole smp model with an ``encoder.`` prefix).

Same contract as M2DINO: the encoder's last four stages (strides 4-32) are the shared multi-level features;
segmentation tasks get their own smp FPN decoder + segmentation head [ours: per task, like M2DINO's per-task DPT
decoders], the other task types the same heads as M2DINO (``heads.py``).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from segmentation_models_pytorch.base.heads import SegmentationHead
from segmentation_models_pytorch.decoders.fpn.decoder import FPNDecoder
from segmentation_models_pytorch.encoders import get_encoder
from segmentation_models_pytorch.losses import DiceLoss
from torch import nn

from m2dino.model.heads import DEFAULT_LOSS_WEIGHTS
from m2dino.model.weights import StateDict, load_into


def _encoder_keys(sd: StateDict, model: nn.Module) -> StateDict:
    """Accept a whole smp model's state dict by keeping its ``encoder.`` part."""
    if any(k.startswith("encoder.") for k in sd):
        return {k[len("encoder."):]: v for k, v in sd.items() if k.startswith("encoder.")}
    return sd


class SmpEncoderBackbone(nn.Module):
    """An smp encoder; ``forward(images, task_index)`` -> its last four feature maps (strides 4, 8, 16, 32)."""

    def __init__(self, mcfg: DictConfig) -> None:
        super().__init__()
        self.encoder = get_encoder(mcfg.encoder, in_channels=3, depth=5, weights=None)
        if mcfg.weights:
            load_into(self.encoder, mcfg.weights, convert=_encoder_keys)
        self.out_channels = list(self.encoder.out_channels[-4:])

    def forward(self, images: torch.Tensor, task_index: int) -> list[torch.Tensor]:
        return list(self.encoder(images)[-4:])


class FPNSegHead(nn.Module):
    """smp's FPN decoder + segmentation head (logits at stride 4, upsampled to the input); loss CE + Dice."""

    def __init__(self, in_channels: Sequence[int], num_classes: int, dim: int,
                 weights: Mapping[str, float] = DEFAULT_LOSS_WEIGHTS) -> None:
        super().__init__()
        self.decoder = FPNDecoder(encoder_channels=list(in_channels), pyramid_channels=dim,
                                  segmentation_channels=dim)
        self.head = SegmentationHead(dim, num_classes, kernel_size=1)
        self.dice = DiceLoss(mode="multiclass", from_logits=True)
        self.w_ce, self.w_dice = float(weights["seg_ce"]), float(weights["seg_dice"])

    def forward(self, feats: Sequence[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
        return F.interpolate(self.head(self.decoder(list(feats))), size=size, mode="bilinear", align_corners=False)

    def loss(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        target = target.long()
        return self.w_ce * F.cross_entropy(pred, target) + self.w_dice * self.dice(pred, target)
