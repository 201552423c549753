"""The pretraining loop: images -> objective loss -> backward -> clip -> step -> teacher update -> log.

The budget is a number of steps, not of minutes, so the same seed and profile give the same weights on CPU.
"""
from __future__ import annotations

import time
from collections.abc import Callable

import pandas as pd
import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn
from m2dino.progress import tqdm  # widgets in JupyterLab, one summary line under papermill

from m2dino.model.backbone import create_vit
from m2dino.optim import build_optimizer, build_scheduler
from m2dino.threads import torch_threads
from m2dino.pretrain.dino import DinoObjective
from m2dino.pretrain.images import unlabelled_images
from m2dino.pretrain.mim import MimObjective

OBJECTIVES: dict[str, Callable[[nn.Module, DictConfig], nn.Module]] = {"dino": DinoObjective, "mim": MimObjective}


def create_backbone(cfg: DictConfig) -> nn.Module:
    """The profile's timm DINOv3 ViT, randomly initialised, without classifier head (the model's own backbone)."""
    overrides = OmegaConf.to_container(cfg.model.overrides, resolve=True)
    return create_vit(cfg.model.arch, int(cfg.model.img_size), overrides)


def build_objective(cfg: DictConfig, backbone: nn.Module) -> nn.Module:
    name = str(cfg.pretrain.objective)
    if name not in OBJECTIVES:
        raise ValueError(f"pretrain.objective={name!r}; choose one of {sorted(OBJECTIVES)}")
    return OBJECTIVES[name](backbone, cfg)


def pretrain(cfg: DictConfig, images: torch.Tensor | None = None,
             max_seconds: float | None = None) -> tuple[nn.Module, pd.DataFrame]:
    """Run the self-supervised pretraining of ``cfg.pretrain``; return the exported backbone and the loss log.

    ``images`` (uint8 [N, 3, S, S]) defaults to :func:`unlabelled_images` of the config. ``max_seconds`` stops early
    on wall-clock time (benchmarks comparing objectives per CPU minute only: it makes the result machine-dependent).
    The global torch RNG is forked: pretraining built on first use inside a training run leaves that run's seeded
    stream untouched, so its metrics don't depend on whether the backbone was cached.
    """
    with torch_threads(cfg.pretrain.threads), torch.random.fork_rng(devices=[]):
        return _pretrain(cfg, images, max_seconds)


def _pretrain(cfg: DictConfig, images: torch.Tensor | None, max_seconds: float | None) -> tuple[nn.Module, pd.DataFrame]:
    p = cfg.pretrain
    torch.manual_seed(int(p.seed))
    if images is None:
        images = unlabelled_images(cfg)
    objective = build_objective(cfg, create_backbone(cfg))
    objective.train()
    opt = build_optimizer(objective.trainable(), p)  # fine-tuning's optimiser and weight-decay rule
    steps, bs = int(p.steps), int(p.batch_size)
    sched = build_scheduler(opt, steps, float(p.warmup_frac), float(p.min_lr_ratio))
    gen = torch.Generator().manual_seed(int(p.seed))
    rows, t0 = [], time.perf_counter()
    for step in tqdm(range(steps), desc=f"pretrain {p.objective}", disable=None):
        batch = images[torch.randint(len(images), (bs,), generator=gen)]
        loss = objective(batch)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"pretraining loss is {loss.item()} at step {step}; lower pretrain.lr")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(objective.trainable().parameters(), float(p.grad_clip))
        lr = opt.param_groups[0]["lr"]
        opt.step()
        sched.step()
        objective.after_step(step, steps)
        rows.append({"step": step, "loss": loss.item(), "lr": lr, "grad_norm": float(gnorm),
                     "seconds": time.perf_counter() - t0})
        if max_seconds is not None and rows[-1]["seconds"] >= max_seconds:
            break
    backbone = objective.export().eval()
    return backbone, pd.DataFrame(rows)
