"""How long the metrics take: bootstrap intervals (vectorised) against a scikit-learn loop, and segmentation scoring
per image (Dice, full HD, HD95) at a typical ultrasound size."""
from __future__ import annotations

import time

import numpy as np
from sklearn.metrics import roc_auc_score

from m2dino.metrics import bootstrap_ci, paired_bootstrap_change, score_task
from m2dino.metrics.bootstrap import draw_counts
from m2dino.metrics.segmentation import image_scores

NAME = "metrics"


def _best_of(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def run(cfg) -> dict:
    rng = np.random.default_rng(0)
    n, out = 300, {}
    _, mre = score_task("FUGC", list(rng.normal(50, 10, (n, 2, 2))), list(rng.normal(50, 10, (n, 2, 2))))
    out["ci_mean_metric_s (300 images, 1000 resamples)"] = round(_best_of(lambda: bootstrap_ci("FUGC", mre)), 4)
    out["paired_change_mean_metric_s"] = round(_best_of(lambda: paired_bootstrap_change("FUGC", mre, mre)), 4)
    for tid, c in (("breast_2cls", 2), ("fetal_head_pos_cls", 8)):
        y = rng.integers(0, c, n)
        _, df = score_task(tid, list(rng.dirichlet(np.ones(c), n)), list(y))
        out[f"ci_auc_{c}class_s (vectorised)"] = round(_best_of(lambda: bootstrap_ci(tid, df)), 4)
    # the same 2-class interval with scikit-learn, one call per resample, timed on 100 resamples and scaled up
    counts = draw_counts(n, 100, 0)
    y2, p1 = rng.integers(0, 2, n), rng.uniform(0, 1, n)

    def loop() -> None:
        for row in counts:
            idx = np.repeat(np.arange(n), row.astype(int))
            roc_auc_score(y2[idx], p1[idx])
    out["ci_auc_2class_s (sklearn loop, scaled to 1000)"] = round(10 * _best_of(loop, 1), 4)
    h, w = 600, 800
    t = np.zeros((h, w), np.int64)
    t[200:400, 300:550] = 1
    p = np.roll(t, (7, -5), axis=(0, 1))
    out[f"seg_image_scores_s ({h}x{w}, 2 classes)"] = round(_best_of(lambda: image_scores(p, t, 2)), 4)
    return out
