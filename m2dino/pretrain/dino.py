"""DINO self-distillation (Caron et al. 2021; the image-level loss of DINOv2/v3): an EMA teacher sees two global
crops, the student sees those and several small local crops, and the student's prototype distribution on every view
must match the centred, sharpened teacher distribution on the other global views.

The backbone's class token feeds a small projection head. Only the teacher's backbone is exported, in timm's keys.
"""
from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from torch import nn

from m2dino.pretrain.augment import Views


class DinoHead(nn.Module):
    """3-layer MLP -> L2-normalised bottleneck -> weight-normalised prototypes (DINO's projection head)."""

    def __init__(self, in_dim: int, out_dim: int, hidden_dim: int, bottleneck_dim: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.GELU(), nn.Linear(hidden_dim, hidden_dim),
                                 nn.GELU(), nn.Linear(hidden_dim, bottleneck_dim))
        self.last = nn.utils.parametrizations.weight_norm(nn.Linear(bottleneck_dim, out_dim, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.last(F.normalize(self.mlp(x), dim=-1))


class DinoObjective(nn.Module):
    """Student (backbone + head, trained) and teacher (their EMA); ``forward(batch_u8)`` returns the DINO loss."""

    def __init__(self, backbone: nn.Module, cfg: DictConfig) -> None:
        super().__init__()
        d, size = cfg.pretrain.dino, int(cfg.data.image_size)
        dim = backbone.embed_dim
        self.student = nn.ModuleDict({"backbone": backbone,
                                      "head": DinoHead(dim, d.out_dim, d.hidden_dim, d.bottleneck_dim)})
        self.teacher = copy.deepcopy(self.student).requires_grad_(False)
        self.register_buffer("center", torch.zeros(1, int(d.out_dim)))
        self.global_views = Views(size, tuple(d.global_scale))
        self.local_views = Views(int(d.local_size), tuple(d.local_scale))
        self.n_local = int(d.local_crops)
        self.student_temp, self.teacher_temp = float(d.student_temp), float(d.teacher_temp)
        self.center_momentum = float(d.center_momentum)
        self.ema = tuple(float(m) for m in d.ema)

    def trainable(self) -> nn.Module:
        return self.student

    @staticmethod
    def _embed(net: nn.ModuleDict, x: torch.Tensor) -> torch.Tensor:
        return net["head"](net["backbone"].forward_features(x)[:, 0])  # class token

    def forward(self, batch_u8: torch.Tensor) -> torch.Tensor:
        b = len(batch_u8)
        glob = torch.cat([self.global_views(batch_u8) for _ in range(2)])
        with torch.no_grad():
            t_out = self._embed(self.teacher, glob)
        s_out = [self._embed(self.student, glob)]
        if self.n_local:
            s_out.append(self._embed(self.student, torch.cat([self.local_views(batch_u8)
                                                              for _ in range(self.n_local)])))
        s_log = F.log_softmax(torch.cat(s_out) / self.student_temp, dim=-1).chunk(2 + self.n_local)
        t_prob = F.softmax((t_out - self.center) / self.teacher_temp, dim=-1).chunk(2)
        terms = [-(t * s).sum(-1).mean() for i, t in enumerate(t_prob) for j, s in enumerate(s_log) if i != j]
        with torch.no_grad():
            m = self.center_momentum
            self.center.mul_(m).add_(t_out.mean(0, keepdim=True), alpha=1 - m)
        assert len(t_out) == 2 * b
        return torch.stack(terms).mean()

    @torch.no_grad()
    def after_step(self, step: int, total: int) -> None:
        """EMA update of the teacher, momentum cosine-ramped from ema[0] to ema[1]."""
        lo, hi = self.ema
        m = hi - (hi - lo) * (math.cos(math.pi * step / max(total - 1, 1)) + 1) / 2
        for ps, pt in zip(self.student.parameters(), self.teacher.parameters()):
            pt.mul_(m).add_(ps.detach(), alpha=1 - m)

    def export(self) -> nn.Module:
        """The backbone to save: the teacher's (the better of the two in DINO)."""
        return self.teacher["backbone"]
