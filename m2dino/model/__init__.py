"""Models: M2DINO (DINOv3 from timm + task-conditioned MoE) and the FMC_UIA baseline, behind one contract.

``build_model(cfg, task_ids)`` reads ``cfg.model`` (``name``: m2dino or fmc_baseline) and returns a
``MultiTaskModel``; see ``multitask.py`` for the forward / loss / routing-count contract. ``model.weights`` must be a
file path or null here: a name such as ``pretrained:inhouse`` is resolved to a file by the caller first
(``m2dino.pretrain.with_resolved_weights``), so building a model never starts pretraining.
"""
from __future__ import annotations

from collections.abc import Sequence

from omegaconf import DictConfig, OmegaConf

from m2dino.model.multitask import MultiTaskModel
from m2dino.registry import get_task

__all__ = ["build_model", "MultiTaskModel"]


def build_model(cfg: DictConfig, task_ids: Sequence[str]) -> MultiTaskModel:
    """The model of ``cfg.model`` with one head per task of ``task_ids`` (registry ids, no duplicates)."""
    from m2dino.model.heads import build_head

    task_ids = list(task_ids)
    if not task_ids:
        raise ValueError("build_model needs at least one task id")
    if len(set(task_ids)) != len(task_ids):
        raise ValueError(f"duplicate task ids: {task_ids}")
    tasks = [get_task(t) for t in task_ids]
    m = cfg.model
    if m.weights and str(m.weights).startswith("pretrained:"):
        raise ValueError(f"model.weights={m.weights} is a name, not a file: resolve it first with "
                         f"m2dino.pretrain.with_resolved_weights(cfg) (the commands and the trainer do)")
    hcfg = m.heads
    dim = int(hcfg.decoder_dim)
    loss_w = OmegaConf.to_container(hcfg.loss_weights, resolve=True)
    if m.name == "m2dino":
        from m2dino.model.backbone import DinoBackbone
        from m2dino.model.heads import DPTSegHead

        backbone, seg_head = DinoBackbone(m, num_tasks=len(task_ids)), DPTSegHead
    elif m.name == "fmc_baseline":
        from m2dino.model.baseline import FPNSegHead, SmpEncoderBackbone

        backbone, seg_head = SmpEncoderBackbone(m), FPNSegHead
    else:
        raise ValueError(f"unknown model.name {m.name!r}; expected m2dino or fmc_baseline")
    stem = int(hcfg.get("stem_dim") or 0)  # the baseline's heads have no image stem: its config has no key
    heads = {t.id: build_head(t, backbone.out_channels, dim, loss_w, seg_head=seg_head, stem=stem) for t in tasks}
    moe = m.moe
    enabled = bool(moe.enabled)  # the baseline's moe section holds only enabled: false
    return MultiTaskModel(backbone, heads, task_ids,
                          balance_weight=float(moe.balance_weight) if enabled else 0.0,
                          z_weight=float(moe.z_weight) if enabled else 0.0)
