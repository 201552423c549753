"""Bootstrap over test images: a 95% confidence interval of a task's primary metric, and the paired relative change
between two models scored on the same images.

Resamples are drawn once as an index matrix [n_boot, N] (numpy ``default_rng(seed)``), turned into draw counts, and
every resample's metric is computed at once (:func:`m2dino.metrics.evaluate.primary_resampled`).

Conventions [ours]:
- Percentile interval (2.5th and 97.5th percentiles of the resampled metric).
- Resamples where the metric is undefined (AUC of a resample holding one class) are dropped; the interval is NaN
  when none is defined.
- Relative change = (new - ref) / |ref| x direction, a fraction (x100 for percent): positive means the new model is
  better, for every metric (MRE's direction is -1, so a lower MRE gives a positive change). NaN when ref is 0.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from m2dino.metrics.evaluate import primary_from_per_image, primary_resampled
from m2dino.registry import get_task


def draw_counts(n: int, n_boot: int, seed: int) -> np.ndarray:
    """[n_boot, n] matrix: how often each of n images is drawn in each resample of n images with replacement."""
    idx = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
    flat = (np.arange(n_boot)[:, None] * n + idx).ravel()
    return np.bincount(flat, minlength=n_boot * n).reshape(n_boot, n).astype(np.float64)


def _interval(values: np.ndarray) -> tuple[float, float]:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan"), float("nan")
    lo, hi = np.percentile(values, [2.5, 97.5])
    return float(lo), float(hi)


def bootstrap_ci(task_id: str, df: pd.DataFrame, n_boot: int = 1000, seed: int = 0) -> tuple[float, float]:
    """95% percentile interval of the task's primary metric over resamples of the images in ``df``."""
    if len(df) == 0:
        raise ValueError(f"empty per-image table for task {task_id}")
    return _interval(primary_resampled(task_id, df, draw_counts(len(df), n_boot, seed)))


def relative(new: np.ndarray | float, ref: np.ndarray | float, direction: int) -> np.ndarray:
    """(new - ref) / |ref| x direction (positive = better); NaN where ref is 0. Also the per-task term of Δm."""
    new, ref = np.asarray(new, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ref != 0, (new - ref) / np.abs(ref) * direction, np.nan)


def aligned(task_id: str, df_ref: pd.DataFrame, df_new: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both per-image tables sorted by ``image_path``, after checking they cover exactly the same images once."""
    for name, df in (("reference", df_ref), ("new", df_new)):
        if df["image_path"].duplicated().any():
            raise ValueError(f"{name} per-image table of task {task_id} repeats image paths")
    ref_set, new_set = set(df_ref["image_path"]), set(df_new["image_path"])
    if ref_set != new_set:
        only_ref, only_new = sorted(ref_set - new_set), sorted(new_set - ref_set)
        raise ValueError(f"task {task_id}: the two per-image tables cover different images "
                         f"({len(only_ref)} only in the reference, e.g. {only_ref[:3]}; "
                         f"{len(only_new)} only in the new, e.g. {only_new[:3]})")
    return (df_ref.sort_values("image_path", kind="stable").reset_index(drop=True),
            df_new.sort_values("image_path", kind="stable").reset_index(drop=True))


def paired_bootstrap_change(task_id: str, df_ref: pd.DataFrame, df_new: pd.DataFrame, n_boot: int = 1000,
                            seed: int = 0) -> dict[str, float]:
    """Relative change of the primary metric from ``df_ref`` to ``df_new`` (positive = better), with a paired 95%
    bootstrap interval: both tables are resampled with the same images, matched by ``image_path``.

    Returns ``change``, ``ci_low``, ``ci_high``, ``n`` (images), ``ref`` and ``new`` (the two point estimates).
    """
    task = get_task(task_id)
    df_ref, df_new = aligned(task_id, df_ref, df_new)
    counts = draw_counts(len(df_ref), n_boot, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ref, new = primary_from_per_image(task_id, df_ref), primary_from_per_image(task_id, df_new)
        boot = relative(primary_resampled(task_id, df_new, counts), primary_resampled(task_id, df_ref, counts),
                         task.direction)
    lo, hi = _interval(boot)
    return {"change": float(relative(new, ref, task.direction)), "ci_low": lo, "ci_high": hi, "n": len(df_ref),
            "ref": ref, "new": new}


def paired_difference(task_id: str, df_ref: pd.DataFrame, df_new: pd.DataFrame, n_boot: int = 1000,
                      seed: int = 0) -> dict[str, float]:
    """Difference of the primary metric, new minus reference, oriented so that positive means the new model is
    better (for MRE: reference minus new), with a paired 95% bootstrap interval over the same images.

    Returns ``diff``, ``ci_low``, ``ci_high``, ``n``, ``ref`` and ``new``.
    """
    task = get_task(task_id)
    df_ref, df_new = aligned(task_id, df_ref, df_new)
    counts = draw_counts(len(df_ref), n_boot, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ref, new = primary_from_per_image(task_id, df_ref), primary_from_per_image(task_id, df_new)
        boot = (primary_resampled(task_id, df_new, counts) - primary_resampled(task_id, df_ref, counts)) * task.direction
    lo, hi = _interval(boot)
    return {"diff": float((new - ref) * task.direction), "ci_low": lo, "ci_high": hi, "n": len(df_ref),
            "ref": ref, "new": new}


def beats_trivial(task_id: str, df_model: pd.DataFrame, df_trivial: pd.DataFrame, n_boot: int = 1000,
                  seed: int = 0) -> dict[str, float | bool]:
    """THE criterion for "the model beats the trivial predictor" on a task (one home for it): the paired 95% bootstrap
    interval of (model - trivial) over test images lies above 0 (for MRE: of trivial - model).

    Returns ``model``, ``trivial``, ``diff_low``, ``diff_high`` and ``beats`` (False when the interval is undefined).
    """
    d = paired_difference(task_id, df_trivial, df_model, n_boot=n_boot, seed=seed)
    return {"model": d["new"], "trivial": d["ref"], "diff_low": d["ci_low"], "diff_high": d["ci_high"],
            "beats": bool(np.isfinite(d["ci_low"]) and d["ci_low"] > 0)}
