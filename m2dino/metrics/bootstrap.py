"""Bootstrap over the test images of ONE run: a 95% confidence interval of a task's primary metric, and the paired
difference and relative change between two models scored on the same images (the beats-trivial criterion, the
backbone probes). Intervals over several seeds count the seeds and the images together: ``m2dino.analysis.inference``.

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


def align(task_id: str, tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The per-image tables of one task, sorted by ``image_path``, after checking that they cover the same images
    (so that a resample draws the same images from each: pairing)."""
    ref_name, ref_df = next(iter(tables.items()))
    paths = {k: df["image_path"].to_numpy() for k, df in tables.items()}
    first = paths[ref_name]
    if len(first) and (first[1:] > first[:-1]).all() and all(  # already sorted, unique and equal: nothing to do
            len(p) == len(first) and (p == first).all() for p in paths.values()):
        return {k: df.reset_index(drop=True) for k, df in tables.items()}
    for name, df in tables.items():
        if df["image_path"].duplicated().any():
            raise ValueError(f"{name} per-image table of task {task_id} repeats image paths")
    ref_set = set(ref_df["image_path"])
    for name, df in tables.items():
        new_set = set(df["image_path"])
        if new_set != ref_set:
            only_ref, only_new = sorted(ref_set - new_set), sorted(new_set - ref_set)
            raise ValueError(f"task {task_id}: the per-image tables cover different images "
                             f"({len(only_ref)} only in the {ref_name}, e.g. {only_ref[:3]}; "
                             f"{len(only_new)} only in the {name}, e.g. {only_new[:3]})")
    return {k: df.sort_values("image_path", kind="stable").reset_index(drop=True) for k, df in tables.items()}


def paired_resamples(task_id: str, tables: dict[str, pd.DataFrame], counts: np.ndarray) -> dict[str, np.ndarray]:
    """The primary metric of each table on the same resamples of images (``counts`` [B, N] over the images sorted
    by path, as :func:`align` returns them); undefined resamples (AUC of one class) are NaN, silently."""
    tables = align(task_id, tables)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return {k: primary_resampled(task_id, df, counts) for k, df in tables.items()}


def paired_difference(task_id: str, df_ref: pd.DataFrame, df_new: pd.DataFrame, n_boot: int = 1000,
                      seed: int = 0) -> dict[str, float]:
    """Direction-aware difference of the primary metric, ``direction x (new - ref)`` (positive = new is better; MRE
    sign-flipped), with a paired 95% percentile interval over resamples of the test images.

    Returns ``diff``, ``ci_low``, ``ci_high``, ``n`` (images), ``ref`` and ``new`` (the point estimates).
    """
    task = get_task(task_id)
    tabs = align(task_id, {"reference": df_ref, "new": df_new})
    boot = paired_resamples(task_id, tabs, draw_counts(len(tabs["new"]), n_boot, seed))
    ones = np.ones((1, len(tabs["new"])))  # the point values by the same (vectorised) computation as the resamples
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ref, new = (float(primary_resampled(task_id, tabs[k], ones)[0]) for k in ("reference", "new"))
    lo, hi = _interval(task.direction * (boot["new"] - boot["reference"]))
    return {"diff": float(task.direction * (new - ref)), "ci_low": lo, "ci_high": hi, "n": len(tabs["new"]),
            "ref": ref, "new": new}


def beats_trivial(task_id: str, model: pd.DataFrame, trivial: pd.DataFrame, n_boot: int = 1000,
                  seed: int = 0) -> dict[str, float | bool]:
    """THE criterion for "a model beats the trivial predictor" on one task (used everywhere): the paired 95%
    percentile interval of (model - trivial) over resamples of the test images (MRE sign-flipped, so positive =
    better) lies above 0.

    ``model`` and ``trivial`` are per-image tables of the same images (a run's ``per_image.csv`` and
    ``per_image_trivial.csv``). Returns ``model``, ``trivial`` (point values of the primary metric), ``diff_low``,
    ``diff_high`` and ``beats``.
    """
    d = paired_difference(task_id, trivial, model, n_boot=n_boot, seed=seed)
    return {"model": d["new"], "trivial": d["ref"], "diff_low": d["ci_low"], "diff_high": d["ci_high"],
            "beats": bool(np.isfinite(d["ci_low"]) and d["ci_low"] > 0)}


def paired_bootstrap_change(task_id: str, df_ref: pd.DataFrame, df_new: pd.DataFrame, n_boot: int = 1000,
                            seed: int = 0) -> dict[str, float]:
    """Relative change of the primary metric from ``df_ref`` to ``df_new`` (positive = better), with a paired 95%
    bootstrap interval: both tables are resampled with the same images, matched by ``image_path``.

    Returns ``change``, ``ci_low``, ``ci_high``, ``n`` (images), ``ref`` and ``new`` (the two point estimates).
    """
    task = get_task(task_id)
    tabs = align(task_id, {"reference": df_ref, "new": df_new})
    df_ref, df_new = tabs["reference"], tabs["new"]
    counts = draw_counts(len(df_ref), n_boot, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ref, new = primary_from_per_image(task_id, df_ref), primary_from_per_image(task_id, df_new)
        boot = relative(primary_resampled(task_id, df_new, counts), primary_resampled(task_id, df_ref, counts),
                         task.direction)
    lo, hi = _interval(boot)
    return {"change": float(relative(new, ref, task.direction)), "ci_low": lo, "ci_high": hi, "n": len(df_ref),
            "ref": ref, "new": new}
