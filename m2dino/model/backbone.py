"""The DINOv3 ViT from timm, with task-conditioned MoE MLPs in its later blocks, giving multi-level feature maps.

The ViT is timm's own (``timm.create_model(model.arch, pretrained=False, ...)``); nothing here re-implements it. Weights
come only from ``model.weights`` (a local file) and are loaded into the dense model first; then the MLPs of the MoE
blocks are swapped for upcycled ``TaskMoEMlp`` modules. The features of ``model.feature_blocks`` (default: four evenly
spaced blocks ending at the last) pass through the final LayerNorm (as DINOv2/v3's ``get_intermediate_layers`` does),
lose their class/register tokens and are reshaped to [B, C, h, w]: the shared interface of every head [S].
"""
from __future__ import annotations

import timm
import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from m2dino.model.moe import TaskMoEMlp, task_context, upcycle_blocks
from m2dino.model.weights import load_dinov3


def default_feature_blocks(depth: int, n: int = 4) -> list[int]:
    """``n`` evenly spaced block indices ending at the last block, e.g. [2, 5, 8, 11] for depth 12."""
    return sorted({max(0, round(depth * (i + 1) / n) - 1) for i in range(n)})


def default_moe_blocks(depth: int) -> list[int]:
    """The second half of the blocks (the study: blocks 7-12 of 12 [S])."""
    return list(range(depth // 2, depth))


def create_vit(arch: str, img_size: int, overrides: dict | None = None, **extra) -> nn.Module:
    """A randomly initialised timm DINOv3 model without classifier head (never downloads)."""
    kwargs = dict(overrides or {})
    kwargs.update(extra)
    return timm.create_model(arch, pretrained=False, img_size=img_size, num_classes=0, **kwargs)


class DinoBackbone(nn.Module):
    """timm DINOv3 + task-conditioned MoE; ``forward(images, task_index)`` -> list of [B, C, h, w] maps."""

    def __init__(self, mcfg: DictConfig, num_tasks: int) -> None:
        super().__init__()
        overrides = OmegaConf.to_container(mcfg.overrides, resolve=True)
        self.vit = create_vit(mcfg.arch, int(mcfg.img_size), overrides)
        if mcfg.weights:
            load_dinov3(self.vit, mcfg.weights)
        depth = len(self.vit.blocks)
        fb = mcfg.feature_blocks
        self.feature_blocks = list(fb) if fb is not None else default_feature_blocks(depth)
        if any(not 0 <= i < depth for i in self.feature_blocks):
            raise ValueError(f"model.feature_blocks {self.feature_blocks} outside 0..{depth - 1}")
        dim = self.vit.embed_dim
        self.out_channels = [dim] * len(self.feature_blocks)
        self.patch_size = self.vit.patch_embed.patch_size[0]

        moe = mcfg.moe
        self.moe_blocks: list[int] = []
        self.task_embed: nn.Embedding | None = None
        self._moes: dict[int, TaskMoEMlp] = {}
        if moe.enabled:
            blocks = moe.blocks
            self.moe_blocks = sorted(blocks) if blocks is not None else default_moe_blocks(depth)
            self.task_embed = nn.Embedding(num_tasks, int(moe.task_embed_dim))
            nn.init.normal_(self.task_embed.weight, std=1.0)
            self._moes = upcycle_blocks(
                self.vit.blocks, self.moe_blocks, num_experts=int(moe.num_experts), top_k=int(moe.top_k),
                task_embed_dim=int(moe.task_embed_dim), num_tasks=num_tasks,
                router_init_std=float(moe.router_init_std))

    @property
    def moes(self) -> dict[int, TaskMoEMlp]:
        """Block index -> MoE MLP (empty when dense)."""
        return self._moes

    def forward(self, images: torch.Tensor, task_index: int) -> list[torch.Tensor]:
        if not self._moes:
            return self._features(images)
        emb = self.task_embed.weight[task_index]
        with task_context(list(self._moes.values()), task_index, emb):
            return self._features(images)

    def _features(self, images: torch.Tensor) -> list[torch.Tensor]:
        return self.vit.forward_intermediates(images, indices=self.feature_blocks, norm=True, stop_early=True,
                                              output_fmt="NCHW", intermediates_only=True)

    def aux_losses(self) -> dict[str, torch.Tensor]:
        """Balance and z-loss of the last forward, averaged over the MoE layers."""
        if not self._moes:
            return {}
        mods = list(self._moes.values())
        return {k: torch.stack([m.aux[k] for m in mods]).mean() for k in ("balance", "z")}

