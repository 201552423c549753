"""A quick difficulty proxy for the synthetic benchmark (not the study's model): linear models on the pixels.

- classification: logistic regression on the image downsampled to 16x16, macro one-vs-rest AUC on the val split;
- segmentation: per-pixel logistic regression on the grey level smoothed at three scales plus the pixel position,
  Dice of the non-background classes on the val split;
- detection and regression: ridge regression (its penalty chosen by leave-one-out on train) from the smoothed image
  downsampled to 16x16 to the box corners or keypoints; val IoU or MRE (pixels) beside the trivial predictor's (the
  training-set mean box or keypoints), so a task at the floor shows as ``value`` no better than ``trivial``.

Used to check the generator is neither trivially easy nor impossible; see the Calibration section of data/README.md.
Fitted on train and scored on val (:data:`SPLIT`): calibrating the generator is a choice, and no choice reads the
test split. ``python -m m2dino.synth.calibration [root]``.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from scipy.ndimage import gaussian_filter
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.metrics import roc_auc_score

from m2dino.data import layout
from m2dino.metrics.detection import iou_per_image
from m2dino.metrics.regression import radial_error_per_image
from m2dino.registry import all_tasks

SPLIT = "val"  # the split the proxy is scored on: calibration is a choice, so never test (#11)


def _load(root: Path, split: str, task_id: str) -> tuple[list[np.ndarray], pd.DataFrame]:
    base = root / split / "csv_files"
    df = pd.read_csv(base / f"{task_id}.csv")
    return [np.asarray(Image.open(base / p), np.float32) / 255 for p in df.image_path], df


def _targets(df: pd.DataFrame, task) -> np.ndarray:
    """[N, 4] box corners (detection) or [N, K, 2] keypoints (regression) in pixels, from the layout's columns."""
    if task.type == "detection":
        return df[list(layout.BOX_COLUMNS)].to_numpy(float)
    cols = layout.point_columns(task.num_classes)
    return np.array([[json.loads(v) for v in row] for row in df[cols].to_numpy()], float)


def _score(kind: str, pred: np.ndarray, y: np.ndarray) -> float:
    """Mean IoU (detection) or mean radial error in pixels (regression), by the study's own metrics."""
    if kind == "detection":
        return float(iou_per_image(pred, y).mean())
    return float(radial_error_per_image(pred, y).mean())


def _small(img: np.ndarray, side: int = 16) -> np.ndarray:
    return np.asarray(Image.fromarray(img).resize((side, side), Image.BILINEAR)).ravel()


def _pixel_features(img: np.ndarray) -> np.ndarray:
    n = img.shape[0]
    yy, xx = np.mgrid[0:n, 0:n] / n
    feats = [img] + [gaussian_filter(img, s) for s in (1, 2, 4)] + [xx, yy, xx * xx, yy * yy, xx * yy]
    return np.stack([f.ravel() for f in feats], 1)


def proxy_scores(root: Path) -> pd.DataFrame:
    """One row per task: the linear proxy's val AUC, Dice, IoU or MRE (with ``trivial`` beside IoU and MRE)."""
    rows = []
    for t in all_tasks():
        if t.type == "classification":
            xi, dtr = _load(root, "train", t.id)
            xt, dte = _load(root, SPLIT, t.id)
            clf = LogisticRegression(C=0.1, max_iter=2000).fit(np.stack([_small(i) for i in xi]), dtr["mask"])
            p = clf.predict_proba(np.stack([_small(i) for i in xt]))
            y = dte["mask"].to_numpy()
            present = sorted(set(y) & set(clf.classes_))
            if len(present) < 2:
                continue
            if t.num_classes == 2:
                auc = roc_auc_score(y, p[:, list(clf.classes_).index(1)])
            else:
                auc = np.mean([roc_auc_score(y == c, p[:, list(clf.classes_).index(c)]) for c in present])
            rows.append({"task": t.id, "metric": "auc", "value": round(float(auc), 3)})
        elif t.type == "segmentation":
            xi, dtr = _load(root, "train", t.id)
            mi = [np.asarray(Image.open(root / "train" / "csv_files" / p)) for p in dtr.mask_path]
            xt, dte = _load(root, SPLIT, t.id)
            mt = [np.asarray(Image.open(root / SPLIT / "csv_files" / p)) for p in dte.mask_path]
            clf = LogisticRegression(max_iter=300).fit(np.concatenate([_pixel_features(i) for i in xi]),
                                                       np.concatenate([m.ravel() for m in mi]))
            dice = []
            for img, m in zip(xt, mt):
                pred = clf.predict(_pixel_features(img)).reshape(m.shape)
                for c in range(1, t.num_classes):
                    a, b = pred == c, m == c
                    dice.append(1.0 if a.sum() + b.sum() == 0 else 2 * (a & b).sum() / (a.sum() + b.sum()))
            rows.append({"task": t.id, "metric": "dice", "value": round(float(np.mean(dice)), 3)})
        elif t.type in ("detection", "regression"):
            xi, dtr = _load(root, "train", t.id)
            xt, dte = _load(root, SPLIT, t.id)
            ytr, yt = _targets(dtr, t), _targets(dte, t)
            feats = lambda imgs: np.stack([_small(gaussian_filter(i, 1)) for i in imgs])  # noqa: E731
            reg = RidgeCV(alphas=np.logspace(-2, 3, 16)).fit(feats(xi), ytr.reshape(len(ytr), -1))
            pred = reg.predict(feats(xt)).reshape(yt.shape)
            rows.append({"task": t.id, "metric": "iou" if t.type == "detection" else "mre",
                         "value": round(_score(t.type, pred, yt), 3),
                         "trivial": round(_score(t.type, np.repeat(ytr.mean(0)[None], len(yt), axis=0), yt), 3)})
    return pd.DataFrame(rows)


if __name__ == "__main__":
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("data/synthetic/demo")
    print(proxy_scores(root).to_string(index=False))
