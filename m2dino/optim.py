"""The optimisation rules shared by pretraining (m2dino/pretrain) and fine-tuning (m2dino/train): which parameters are
weight-decayed, the AdamW implementation, and the warmup + cosine learning-rate schedule.

One home for them, so that the in-house backbone and the fine-tuned models follow the same rule.
"""
from __future__ import annotations

import math

import torch
from torch import nn


def decays(name: str, param: nn.Parameter) -> bool:
    """Whether AdamW weight-decays this parameter: matrices do; biases, norms, layer scales (1-D), the MoE experts'
    stacked [E, H] biases, the class/register/mask tokens and position embeddings do not."""
    return not (param.ndim <= 1 or name.endswith(("_token", ".b_in", ".b_out")) or "pos_embed" in name)


def adamw(groups: list[dict], lr: float, betas: tuple[float, float] = (0.9, 0.999)) -> torch.optim.AdamW:
    """AdamW with the fused kernel: one kernel over all tensors instead of a loop of small ops per tensor (on the demo
    model, 115 tensors: ~10 ms of a ~60 ms CPU training step with the default per-tensor path, ~2 ms fused)."""
    return torch.optim.AdamW(groups, lr=lr, betas=betas, fused=True)


def warmup_cosine(step: int, total: int, warmup_frac: float, min_ratio: float) -> float:
    """The lr factor at ``step`` of ``total``: linear warmup over ``warmup_frac`` of the steps (none if 0), then
    cosine decay to ``min_ratio`` of the peak."""
    warmup = max(1, round(warmup_frac * total)) if warmup_frac > 0 else 0
    if step < warmup:
        return (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))
