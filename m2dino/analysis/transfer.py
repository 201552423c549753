"""Negative transfer: a task whose change against TS is below zero with a 95% interval that excludes zero.

Positive transfer is the mirror image; everything else is ``neutral`` (no evidence either way), and ``no interval``
where no bootstrap was run.
"""
from __future__ import annotations

import pandas as pd


def classify(changes: pd.DataFrame) -> pd.DataFrame:
    """``changes`` with a ``transfer`` column: negative, positive, neutral or no interval."""
    out = changes.copy()
    lab = pd.Series("neutral", index=out.index)
    lab[(out["change"] < 0) & (out["ci_high"] < 0)] = "negative"
    lab[(out["change"] > 0) & (out["ci_low"] > 0)] = "positive"
    lab[out["ci_low"].isna() | out["ci_high"].isna()] = "no interval"
    out["transfer"] = lab
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
