"""AdamW over parameter groups (backbone, heads at ``head_lr_mult``, optional layer-wise decay) and its schedule.

The same optimiser and schedule serve every paradigm, so the comparison is about aggregation, not budget.
"""
from __future__ import annotations

import re

import torch
from torch import nn

from m2dino.optim import adamw, decays, warmup_cosine

# Parameters whose dotted name has one of these components belong to the task heads (higher learning rate).
HEAD_KEYS = frozenset({"head", "heads", "decoder", "decoders"})
_BLOCK = re.compile(r"(?:^|\.)blocks\.(\d+)\.")


def is_head(name: str) -> bool:
    """Whether a parameter belongs to a task head or decoder rather than the shared backbone."""
    return any(part in HEAD_KEYS for part in name.split("."))


def layer_id(name: str, depth: int) -> int:
    """0 for the embeddings, i+1 for ViT block i, depth+1 for everything after the blocks (for layer-wise decay)."""
    m = _BLOCK.search(name)
    if m:
        return int(m.group(1)) + 1
    if any(k in name for k in ("patch_embed", "cls_token", "pos_embed", "reg_token", "mask_token", "rope")):
        return 0
    return depth + 1


def param_groups(model: nn.Module, lr: float, weight_decay: float, head_lr_mult: float = 1.0,
                 layer_decay: float = 1.0, stacked: bool = False) -> list[dict]:
    """AdamW groups: heads at ``lr * head_lr_mult``; backbone at ``lr * layer_decay**(depth + 1 - layer)``.

    Biases, norms and tokens (1-D parameters) get no weight decay. ``depth`` is the number of ``blocks.<i>`` found.
    ``stacked``: the parameters carry a leading model dimension (``StackedModel.net``); the groups are those of one
    model, in the same order.
    """
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    ids = [int(m.group(1)) for n, _ in named if (m := _BLOCK.search(n))]
    depth = max(ids) + 1 if ids else 0
    groups: dict[tuple, dict] = {}
    for n, p in named:
        if is_head(n):
            scale, kind = head_lr_mult, "head"
        else:
            scale, kind = layer_decay ** (depth + 1 - layer_id(n, depth)), "backbone"
        wd = weight_decay if decays(n, p[0] if stacked else p) else 0.0
        key = (kind, scale, wd)
        if key not in groups:
            groups[key] = {"params": [], "lr": lr * scale, "weight_decay": wd, "name": f"{kind}_x{scale:.3g}_wd{wd:g}"}
        groups[key]["params"].append(p)
    return list(groups.values())


def build_optimizer(model: nn.Module, train_cfg, extra: list[nn.Parameter] | None = None,
                    stacked: bool = False) -> torch.optim.AdamW:
    """AdamW over :func:`param_groups`; ``extra`` (e.g. uncertainty-weighting log-variances) at the base lr, no decay."""
    groups = param_groups(model, train_cfg.lr, train_cfg.weight_decay, train_cfg.head_lr_mult, train_cfg.layer_decay,
                          stacked)
    if extra:
        groups.append({"params": list(extra), "lr": train_cfg.lr, "weight_decay": 0.0, "name": "loss_weights"})
    return adamw(groups, train_cfg.lr)


def build_scheduler(opt: torch.optim.Optimizer, total_steps: int, warmup_frac: float,
                    min_ratio: float) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warmup over ``warmup_frac`` of the steps, then cosine decay to ``min_ratio`` of each group's peak lr."""
    def factor(step: int) -> float:
        return warmup_cosine(step, total_steps, warmup_frac, min_ratio)

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)
