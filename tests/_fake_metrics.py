"""TEMPORARY: a minimal m2dino.metrics with the contract's signatures, used by the training tests only until the real
package (issue 6, metrics part) is merged. Delete with its use in train_standins once it is."""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from m2dino.registry import get_task


def score_task(task_id, preds, targets, image_paths=None, orig_sizes=None):
    t = get_task(task_id)
    if t.type == "segmentation":
        v = [float(((p == 1) & (g == 1)).sum() * 2 / max(1, (p == 1).sum() + (g == 1).sum())) for p, g in zip(preds, targets)]
        df = pd.DataFrame({"dice": v})
    elif t.type == "classification":
        df = pd.DataFrame(np.stack(preds), columns=[f"p{c}" for c in range(t.num_classes)])
        df.insert(0, "label", [int(g) for g in targets])
    elif t.type == "detection":
        v = []
        for p, g in zip(preds, targets):
            iw = max(0, min(p[2], g[2]) - max(p[0], g[0])); ih = max(0, min(p[3], g[3]) - max(p[1], g[1]))
            inter = iw * ih
            v.append(inter / ((p[2] - p[0]) * (p[3] - p[1]) + (g[2] - g[0]) * (g[3] - g[1]) - inter + 1e-9))
        df = pd.DataFrame({"iou": v})
    else:
        df = pd.DataFrame({"mre": [float(np.linalg.norm(np.asarray(p) - np.asarray(g), axis=1).mean())
                                   for p, g in zip(preds, targets)]})
    df.insert(0, "image_path", image_paths)
    if orig_sizes is not None:
        df["height"] = [s[0] for s in orig_sizes]
        df["width"] = [s[1] for s in orig_sizes]
    return {t.primary_metric: primary_from_per_image(task_id, df)}, df


def primary_from_per_image(task_id, df):
    t = get_task(task_id)
    if t.primary_metric == "auc":
        if df["label"].nunique() < 2:
            return float("nan")
        return float(roc_auc_score(df["label"], df["p1"]))
    return float(df[t.primary_metric].mean())


def bootstrap_ci(task_id, df, n_boot=1000, seed=0):
    rng = np.random.default_rng(seed)
    vals = [primary_from_per_image(task_id, df.iloc[rng.integers(0, len(df), len(df))]) for _ in range(n_boot)]
    return float(np.nanpercentile(vals, 2.5)), float(np.nanpercentile(vals, 97.5))


def mean_image_size(df):
    return float(df["height"].mean()), float(df["width"].mean())


def normalised_primary(task_id, value, image_size=None):
    if get_task(task_id).primary_metric == "mre":
        return max(0.0, 1 - value / float(np.hypot(*image_size)))
    return float(value)
