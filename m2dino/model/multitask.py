"""A shared backbone with one head per task: the model contract every trainer and evaluator codes against.

``model(images, task_id) -> {"out": prediction, "aux_loss": scalar}`` for a batch of ONE task;
``model.task_loss(out, target, task_id)`` is that task's loss (the auxiliary MoE loss is NOT included: add
``out["aux_loss"]`` once in the training step); ``routing_counts()``/``reset_routing_counts()`` expose expert usage.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn


class MultiTaskModel(nn.Module):
    """Backbone (``forward(images, task_index) -> list of feature maps``) + a ``ModuleDict`` of heads by task id."""

    def __init__(self, backbone: nn.Module, heads: Mapping[str, nn.Module], task_ids: Sequence[str],
                 balance_weight: float = 0.0, z_weight: float = 0.0) -> None:
        super().__init__()
        self.backbone = backbone
        self.heads = nn.ModuleDict(dict(heads))
        self.task_ids = list(task_ids)
        self._index = {t: i for i, t in enumerate(self.task_ids)}
        self.balance_weight, self.z_weight = float(balance_weight), float(z_weight)

    def task_index(self, task_id: str) -> int:
        try:
            return self._index[task_id]
        except KeyError:
            raise KeyError(f"task {task_id!r} is not one of this model's tasks: {self.task_ids}") from None

    def forward(self, images: torch.Tensor, task_id: str) -> dict[str, torch.Tensor]:
        feats = self.backbone(images, self.task_index(task_id))
        head = self.heads[task_id]
        size = tuple(images.shape[-2:])
        out = head(feats, size, image=images) if getattr(head, "uses_image", False) else head(feats, size)
        return {"out": out, "aux_loss": self.aux_loss(images)}

    def aux_loss(self, like: torch.Tensor) -> torch.Tensor:
        """Weighted balance + z-loss of the last forward (mean over MoE layers); 0 for a dense model."""
        aux = getattr(self.backbone, "aux_losses", dict)()
        if not aux:
            return like.new_zeros((), dtype=torch.float32)
        return self.balance_weight * aux["balance"] + self.z_weight * aux["z"]

    def task_loss(self, out: Mapping[str, torch.Tensor] | torch.Tensor, target: torch.Tensor,
                  task_id: str) -> torch.Tensor:
        """The task's own loss (without ``aux_loss``); ``out`` is the forward's dict or its ``"out"`` tensor."""
        pred = out["out"] if isinstance(out, Mapping) else out
        return self.heads[task_id].loss(pred, target)

    def routing_counts(self) -> dict[str, dict[int, list[int]]]:
        """Task -> MoE block index -> tokens routed to each expert since the last reset (every task of the model)."""
        moes = getattr(self.backbone, "moes", {})
        return {t: {b: m.counts[i].tolist() for b, m in moes.items()} for t, i in self._index.items()}

    def reset_routing_counts(self) -> None:
        for m in getattr(self.backbone, "moes", {}).values():
            m.counts.zero_()
