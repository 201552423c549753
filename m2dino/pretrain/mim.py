"""SimMIM-style masked image modelling (Xie et al. 2022): a random fraction of patch embeddings is replaced by a
learned mask token and a linear layer predicts the masked patches' pixels from the encoder's output (L1 loss).

The mask is applied by a forward hook on timm's ``patch_embed``, so the backbone's own ``forward_features`` runs
unchanged. The mask token and the decoder are pretraining-only and are not exported.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from torch import nn

from m2dino.pretrain.augment import Views


class MimObjective(nn.Module):
    """Backbone + mask token + linear pixel decoder; ``forward(batch_u8)`` returns the masked-patch L1 loss."""

    def __init__(self, backbone: nn.Module, cfg: DictConfig) -> None:
        super().__init__()
        m = cfg.pretrain.mim
        self.backbone = backbone
        dim, self.patch = backbone.embed_dim, backbone.patch_embed.patch_size[0]
        self.mask_token = nn.Parameter(torch.zeros(dim))
        nn.init.normal_(self.mask_token, std=0.02)
        self.decoder = nn.Linear(dim, self.patch * self.patch * 3)
        self.mask_ratio = float(m.mask_ratio)
        self.views = Views(int(cfg.data.image_size), tuple(m.global_scale))
        self._mask: torch.Tensor | None = None
        backbone.patch_embed.register_forward_hook(self._apply_mask)

    def _apply_mask(self, module: nn.Module, args: tuple, out: torch.Tensor) -> torch.Tensor | None:
        if self._mask is None:
            return None
        return torch.where(self._mask[..., None], self.mask_token.to(out.dtype), out)  # out: [B, h, w, C]

    def trainable(self) -> nn.Module:
        return self

    def forward(self, batch_u8: torch.Tensor) -> torch.Tensor:
        x = self.views(batch_u8)
        b, _, hh, ww = x.shape
        h, w = hh // self.patch, ww // self.patch
        n_mask = max(1, round(self.mask_ratio * h * w))
        masked = torch.rand(b, h * w).argsort(dim=1)[:, :n_mask]
        self._mask = torch.zeros(b, h * w, dtype=torch.bool).scatter_(1, masked, True).view(b, h, w)
        try:
            tokens = self.backbone.forward_features(x)[:, self.backbone.num_prefix_tokens:]
        finally:
            mask, self._mask = self._mask, None
        pred = self.decoder(tokens)  # [B, h*w, p*p*3]
        target = F.unfold(x, self.patch, stride=self.patch).transpose(1, 2)  # [B, h*w, 3*p*p], row-major patches
        err = (pred - target).abs().mean(-1)
        return err[mask.view(b, -1)].mean()

    def after_step(self, step: int, total: int) -> None:
        """Nothing to update between steps."""

    def export(self) -> nn.Module:
        return self.backbone
