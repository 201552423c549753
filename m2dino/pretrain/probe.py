"""Linear probes on frozen features: does the in-house backbone beat its own random initialisation?

For each probe task, features are extracted once per backbone (no gradient) from the labelled train split (to fit the
probe) and the val split (to score it). Probes take decisions (the pretraining objective and budget, ``choice.py``),
so they never read the test split: :data:`SPLIT` is val, and the test split stays for the final scoring of the study's
models alone. The probes are linear in the features:
- classification: logistic regression (scikit-learn) on the class token and the mean patch token, standardised;
- segmentation: a 1x1 convolution on the patch-token grid, its logits upsampled bilinearly to the input size,
  trained full-batch with cross-entropy + soft Dice (a linear per-patch probe);
- detection / regression: ridge regression (scikit-learn, alpha by leave-one-out) from all patch tokens to the
  normalised box / keypoint coordinates.

Scores use ``m2dino.metrics`` at the model's input resolution (both backbones alike), with 95% bootstrap intervals
over val images and a paired bootstrap of the relative change (positive = pretrained better).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

from m2dino import atomic, registry
from m2dino.config import config_hash
from m2dino.metrics import bootstrap_ci, paired_bootstrap_change, score_task
from m2dino.metrics.bootstrap import draw_counts
from m2dino.pretrain import store
from m2dino.pretrain.loop import create_backbone
from m2dino.threads import torch_threads

Split = tuple[torch.Tensor, list[Any], list[str]]  # images [N, 3, H, W], targets, image paths
SPLIT = "val"  # the split probes are scored on: they inform choices, so never test (#11: no choice made on test)


def stack_items(items: Sequence[Mapping[str, Any]]) -> Split:
    """Dataset items (the data contract: ``image``, ``target``, ``meta.image_path``) -> stacked images, lists."""
    if not len(items):
        raise ValueError("no images to probe")
    return (torch.stack([it["image"] for it in items]), [it["target"] for it in items],
            [str(it["meta"]["image_path"]) for it in items])


@torch.no_grad()
def extract(backbone: nn.Module, images: torch.Tensor, batch_size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Frozen features: pooled [N, 2C] (class token, mean patch token) and the patch grid [N, C, h, w]."""
    backbone.eval()
    npre, p = backbone.num_prefix_tokens, backbone.patch_embed.patch_size[0]
    h, w = images.shape[-2] // p, images.shape[-1] // p
    pooled, grids = [], []
    for chunk in images.split(batch_size):
        tok = backbone.forward_features(chunk)
        patches = tok[:, npre:]
        pooled.append(torch.cat([tok[:, 0], patches.mean(1)], dim=1))
        grids.append(patches.transpose(1, 2).reshape(len(chunk), -1, h, w))
    return torch.cat(pooled), torch.cat(grids)


def _classification(tr: torch.Tensor, y: list, te: torch.Tensor, c: float) -> tuple[np.ndarray, np.ndarray]:
    """Scored-split class probabilities [N, seen classes] and the classes seen in training."""
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=5000))
    clf.fit(tr.numpy(), np.array([int(t) for t in y]))
    return clf.predict_proba(te.numpy()), clf.classes_


def _segmentation(tr: torch.Tensor, y: list, te: torch.Tensor, num_classes: int, size: tuple[int, int],
                  steps: int, seed: int, upsample: int = 4) -> list[np.ndarray]:
    """Scored-split masks from a 1x1 conv on standardised patch grids, trained full-batch (Adam, CE + soft Dice).

    Bilinear upsampling commutes with a 1x1 convolution, so the grids are upsampled once, outside the loop, to
    ``upsample`` x the grid, and fitted to the area-averaged one-hot masks at that size (soft targets, so small
    structures are not lost). Scored-split logits are upsampled to the full input size before the argmax.
    """
    mean, std = tr.mean((0, 2, 3), keepdim=True), tr.std((0, 2, 3), keepdim=True) + 1e-6
    tr, te = (tr - mean) / std, (te - mean) / std
    fit_size = (tr.shape[-2] * upsample, tr.shape[-1] * upsample)
    feats = F.interpolate(tr, size=fit_size, mode="bilinear", align_corners=False)
    target = torch.stack([torch.as_tensor(t) for t in y]).long()
    soft = F.adaptive_avg_pool2d(F.one_hot(target, num_classes).permute(0, 3, 1, 2).float(), fit_size)
    torch.manual_seed(seed)
    head = nn.Conv2d(tr.shape[1], num_classes, 1)
    opt = torch.optim.Adam(head.parameters(), lr=0.05, weight_decay=1e-4)
    for _ in range(steps):
        logits = head(feats)
        prob = logits.softmax(1)
        inter, denom = (prob * soft).sum((0, 2, 3)), (prob + soft).sum((0, 2, 3))
        loss = F.cross_entropy(logits, soft) + (1 - (2 * inter + 1) / (denom + 1)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        pred = F.interpolate(head(te), size=size, mode="bilinear", align_corners=False).argmax(1)
    return [m.numpy().astype(np.int64) for m in pred]


def _ridge(tr: torch.Tensor, y: list, te: torch.Tensor) -> np.ndarray:
    """Normalised coordinates of the scored images from all patch tokens (ridge, alpha by leave-one-out)."""
    targets = np.stack([np.asarray(t, dtype=np.float64).reshape(-1) for t in y])
    reg = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-1, 5, 13)))
    reg.fit(tr.flatten(1).numpy(), targets)
    return np.clip(reg.predict(te.flatten(1).numpy()), 0.0, 1.0)


def probe_task(task_id: str, backbone: nn.Module, train: Split, scored: Split, pcfg: DictConfig,
               seed: int = 0) -> pd.DataFrame:
    """Fit the task's linear probe on ``train`` features and return the per-image table on ``scored`` (val)."""
    task = registry.get_task(task_id)
    (x_tr, y_tr, _), (x_te, y_te, paths) = train, scored
    pooled_tr, grid_tr = extract(backbone, x_tr)
    pooled_te, grid_te = extract(backbone, x_te)
    hh, ww = x_te.shape[-2:]
    scale = np.array([ww, hh], dtype=np.float64)  # normalised xy -> input pixels
    if task.type == "classification":
        probs, classes = _classification(pooled_tr, y_tr, pooled_te, float(pcfg.cls_C))
        full = np.zeros((len(probs), task.num_classes))  # classes absent from the training split get probability 0
        full[:, classes] = probs
        preds, targets = list(full), [int(t) for t in y_te]
    elif task.type == "segmentation":
        preds = _segmentation(grid_tr, y_tr, grid_te, task.num_classes, (hh, ww), int(pcfg.seg_steps), seed)
        targets = [np.asarray(t, dtype=np.int64) for t in y_te]
    else:
        out = _ridge(grid_tr, y_tr, grid_te)
        if task.type == "detection":
            box = out.reshape(-1, 2, 2) * scale
            box = np.concatenate([box.min(1), box.max(1)], axis=1)  # a valid xyxy box whatever the ridge says
            preds = list(box)
            targets = [(np.asarray(t, dtype=np.float64).reshape(2, 2) * scale).reshape(-1) for t in y_te]
        else:
            preds = list(out.reshape(len(out), -1, 2) * scale)
            targets = [np.asarray(t, dtype=np.float64).reshape(-1, 2) * scale for t in y_te]
    _, df = score_task(task_id, preds, targets, image_paths=paths)
    return df


def _own_columns(df: pd.DataFrame) -> pd.DataFrame:
    """One task's rows of a mixed-task table: its own columns only, integer columns integer again."""
    df = df.drop(columns=["task", "backbone"]).dropna(axis=1, how="all")
    ints = [c for c in ("label", "pred", "correct") if c in df.columns]
    return df.astype({c: int for c in ints})


def summarise(per_image: pd.DataFrame, reference: str, candidate: str, n_boot: int = 1000,
              seed: int = 0) -> pd.DataFrame:
    """One row per task: primary metric of both backbones with 95% CIs over the scored (val) images and the paired
    relative change (positive = ``candidate`` better).

    ``per_image`` holds the probe tables of every task with columns ``task`` and ``backbone``. Classification
    rows also carry accuracy and its CI (bootstrap of the per-image ``correct`` column).
    """
    rows = []
    for tid, df in per_image.groupby("task", sort=False):
        task = registry.get_task(str(tid))
        ref, new = (_own_columns(df[df.backbone == name]) for name in (reference, candidate))
        ch = paired_bootstrap_change(task.id, ref, new, n_boot=n_boot, seed=seed)
        row = {"task": task.id, "type": task.type, "metric": task.primary_metric, "split": SPLIT, "n": len(new)}
        for name, d, est in ((reference, ref, ch["ref"]), (candidate, new, ch["new"])):
            lo, hi = bootstrap_ci(task.id, d, n_boot=n_boot, seed=seed)
            row.update({name: est, f"{name}_lo": lo, f"{name}_hi": hi})
        row.update({"change": ch["change"], "change_lo": ch["ci_low"], "change_hi": ch["ci_high"]})
        if task.type == "classification":
            counts = draw_counts(len(new), n_boot, seed)
            for name, d in ((reference, ref), (candidate, new)):
                acc = counts @ d["correct"].to_numpy(np.float64) / counts.sum(1)
                row.update({f"{name}_acc": float(d["correct"].mean()), f"{name}_acc_lo": float(np.percentile(acc, 2.5)),
                            f"{name}_acc_hi": float(np.percentile(acc, 97.5))})
        rows.append(row)
    return pd.DataFrame(rows)


def load_split(cfg: DictConfig, task_id: str, split: str) -> Split:
    """A task's labelled split as stacked model inputs (no augmentation), through the project's data loader."""
    from m2dino.data.build import build_datasets

    ds = build_datasets(cfg, [task_id], split, train=False)[task_id]
    return stack_items([ds[i] for i in range(len(ds))])


def run_probes(cfg: DictConfig, backbones: Mapping[str, nn.Module]) -> pd.DataFrame:
    """Per-image probe tables of every ``plan.probe.tasks`` task and backbone (train split fits, val scores)."""
    tables = []
    for tid in cfg.plan.probe.tasks:
        train, scored = load_split(cfg, tid, "train"), load_split(cfg, tid, SPLIT)
        for name, backbone in backbones.items():
            df = probe_task(tid, backbone, train, scored, cfg.plan.probe, seed=int(cfg.pretrain.seed))
            df.insert(0, "backbone", name)
            df.insert(0, "task", tid)
            tables.append(df)
    return pd.concat(tables, ignore_index=True)


def compare(cfg: DictConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Probe the in-house backbone (pretrained first if missing) against its own random initialisation.

    Returns the summary (one row per task) and the per-image tables; the latter are cached next to the backbone,
    keyed by the probe settings and the dataset, so re-plotting never re-probes.
    """
    weights = store.ensure_pretrained(cfg)
    key = config_hash({"probe": OmegaConf.to_container(cfg.plan.probe, resolve=True),
                       "data": OmegaConf.to_container(cfg.data, resolve=True), "split": SPLIT})
    cache = store.pretrain_dir(cfg) / f"probe_{key}.csv"
    if cache.is_file():
        per_image = pd.read_csv(cache)
    else:
        torch.manual_seed(int(cfg.pretrain.seed))  # the same initialisation the pretraining started from
        backbones = {"random": create_backbone(cfg).eval(), "pretrained": store.load_backbone(cfg, weights)}
        with torch_threads(cfg.pretrain.threads):
            per_image = run_probes(cfg, backbones)
        atomic.to_csv(per_image, cache, index=False)  # a half-written cache would be read next time
    summary = summarise(per_image, "random", "pretrained", n_boot=int(cfg.plan.probe.n_boot),
                        seed=int(cfg.pretrain.seed))
    return summary, per_image
