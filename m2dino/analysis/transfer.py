"""Negative transfer: a task whose change against TS is below zero with a Holm-adjusted p-value below 0.05 (Holm
over the tasks of its comparison; intervals and p-values from ``m2dino.analysis.inference``), the definition
``delta_s.task_table`` uses for Δs too.

Positive transfer is the mirror image; everything else is ``neutral`` (no evidence either way), and ``no interval``
where no p-value was computed.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from m2dino.analysis.inference import ALPHA


def classify(changes: pd.DataFrame, column: str = "change") -> pd.DataFrame:
    """``changes`` (with the effect in ``column`` and ``p_holm``) with a ``transfer`` column: negative, positive,
    neutral or no interval."""
    if "p_holm" not in changes.columns:
        raise ValueError("classify needs Holm-adjusted p-values (column p_holm): m2dino.analysis.change.compare")
    out = changes.copy()
    sig = out["p_holm"].to_numpy(float) < ALPHA
    ch = out[column].to_numpy(float)
    out["transfer"] = np.where(out["p_holm"].isna(), "no interval",
                               np.where(sig & (ch < 0), "negative", np.where(sig & (ch > 0), "positive", "neutral")))
    return out


def negative_transfer(changes: pd.DataFrame) -> pd.DataFrame:
    """Only the tasks with significant negative transfer, worst first."""
    c = classify(changes)
    return c[c["transfer"] == "negative"].sort_values("change").reset_index(drop=True)


def count_negative(changes: pd.DataFrame, by: str | None = None) -> pd.DataFrame:
    """Number of tasks with negative transfer per comparison (and per ``by``: ``group`` or ``type``), zeros included."""
    c = classify(changes)
    keys = ["comparison"] + ([by] if by else [])
    return (c.assign(negative=c["transfer"] == "negative")
            .groupby(keys, sort=False)
            .agg(n_tasks=("task", "nunique"), n_negative=("negative", "sum"))
            .reset_index()
            .astype({"n_negative": int}))
