"""How task losses are weighted: equally (default) or by learned homoscedastic uncertainty (Kendall et al., 2018)."""
from __future__ import annotations

import torch
from torch import nn


class LossWeighting(nn.Module):
    """``equal``: the task loss as is. ``uncertainty``: ``exp(-s_t) * L_t + s_t`` with a learned ``s_t`` per task.

    With one task per batch, each step weights only that batch's task.
    """

    def __init__(self, task_ids: list[str], mode: str = "equal") -> None:
        super().__init__()
        if mode not in ("equal", "uncertainty"):
            raise ValueError(f"train.loss_weighting must be 'equal' or 'uncertainty', got {mode!r}")
        self.mode = mode
        self.index = {t: i for i, t in enumerate(task_ids)}
        self.log_var = nn.Parameter(torch.zeros(len(task_ids)), requires_grad=mode == "uncertainty")

    def forward(self, loss: torch.Tensor, task_id: str) -> torch.Tensor:
        if self.mode == "equal":
            return loss
        s = self.log_var[self.index[task_id]]
        return torch.exp(-s) * loss + s
