"""The aggregation guideline derived from measured changes (descriptive; the study's claims are tested by
``m2dino.analysis.verdicts``, one declared test each).

Data scale is a property of a clinical group, set in ``conf/analysis.yaml`` with its reason
(``data_rich_groups``, ``data_scarce_groups``: the groups the study names [S]); groups in neither list get no scale
and are left out of the guideline's cells. Groups of one task are left out of every CG statement (their CG model is
a TS model). Each cell's mean comes with a 95% interval from a bootstrap over tasks.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from m2dino.analysis.inference import percentile_interval, task_resamples
MIN_TASKS = 3  # fewer tasks than this give no "clear" recommendation: a bootstrap over 2 is noise
PARADIGM_NAME = {"single": "single (TS)", "clinical": "clinical-group (CG)", "all": "all-task (AU)"}


def scale_groups(profile: str) -> tuple[list[str], list[str]]:
    """The data-rich and data-scarce clinical groups of a profile's analysis settings."""
    from m2dino.analysis.settings import settings

    opts = settings(profile)
    rich, scarce = list(opts.data_rich_groups), list(opts.data_scarce_groups)
    if set(rich) & set(scarce):
        raise ValueError(f"conf/analysis.yaml: groups {sorted(set(rich) & set(scarce))} are both data-rich and "
                         "data-scarce")
    return rich, scarce


def add_group_scale(changes: pd.DataFrame, rich: list[str], scarce: list[str]) -> pd.DataFrame:
    """``changes`` with ``group_n_train``, ``group_size`` and ``scale`` (data-rich, data-scarce, or unrated for
    groups in neither list) columns."""
    per_task = changes.drop_duplicates(["experiment", "task"])[["experiment", "group", "task", "n_train"]]
    tot = per_task.groupby(["experiment", "group"]).agg(group_n_train=("n_train", "sum"),
                                                         group_size=("task", "nunique")).reset_index()
    out = changes.merge(tot, on=["experiment", "group"], how="left")
    out["scale"] = np.where(out["group"].isin(rich), "data-rich",
                            np.where(out["group"].isin(scarce), "data-scarce", "unrated"))
    return out


Cols = dict[str, np.ndarray]


def _boot(df: pd.DataFrame, stat: Callable[[Cols, np.ndarray], float], n_boot: int,
          seed: int = 0) -> tuple[float, float, float]:
    """Statistic and 95% percentile interval from a bootstrap over tasks.

    ``stat(cols, w)`` gets the columns as arrays and a weight per row: how often the row's task was drawn (all rows of
    a task move together), so resampling is a reweighting and stays fast.
    """
    cols = {k: df[k].to_numpy() for k in df.columns}
    if {"experiment", "group"} <= set(cols):
        cols["experiment_group"] = (df["experiment"].astype(str) + "/" + df["group"].astype(str)).to_numpy()
    point = stat(cols, np.ones(len(df)))
    tasks, code = np.unique(df["task"].to_numpy(), return_inverse=True)
    if len(tasks) < 2 or not np.isfinite(point):
        return point, np.nan, np.nan
    vals = []
    for pick in task_resamples(len(tasks), n_boot, seed):
        counts = np.bincount(pick, minlength=len(tasks))
        v = stat(cols, counts[code].astype(float))
        if np.isfinite(v):
            vals.append(v)
    if len(vals) < n_boot // 2:
        return point, np.nan, np.nan
    lo, hi = percentile_interval(np.array(vals))
    return point, lo, hi


def _wmean(x: np.ndarray, w: np.ndarray) -> float:
    return float((w * x).sum() / w.sum()) if w.sum() > 0 else np.nan


def _mean_of(paradigm: str) -> Callable[[Cols, np.ndarray], float]:
    def stat(d: Cols, w: np.ndarray) -> float:
        m = d["paradigm"] == paradigm
        return _wmean(d["change"].astype(float)[m], w[m])
    return stat


def derive_guideline(changes: pd.DataFrame, rich: list[str], scarce: list[str], n_boot: int) -> pd.DataFrame:
    """Which paradigm to use per data scale and task type, from per-task changes of CG and AU against TS.

    The recommendation is the paradigm with the best mean change (TS counts as 0). It is ``clear`` when that mean's
    interval excludes 0 (for TS: when both CG's and AU's intervals lie below 0), else ``weak``.
    """
    c = add_group_scale(changes.dropna(subset=["change"]), rich, scarce)
    c = c[c["scale"] != "unrated"]
    rows = []
    for (scale, typ), d in c.groupby(["scale", "type"], sort=True):
        row = {"scale": scale, "type": typ, "n_tasks": d["task"].nunique()}
        est = {"single": (0.0, 0.0, 0.0)}
        for p in ("clinical", "all"):
            dp = d[(d["paradigm"] == p) & ~((p == "clinical") & (d["group_size"] == 1))]
            if len(dp):
                est[p] = _boot(dp, _mean_of(p), n_boot)
                row.update({f"{p}_mean": est[p][0], f"{p}_ci_low": est[p][1], f"{p}_ci_high": est[p][2],
                            f"{p}_n_tasks": dp["task"].nunique()})
        best = max(est, key=lambda k: est[k][0])
        if best == "single":
            others = [v for k, v in est.items() if k != "single"]
            clear = bool(others) and all(np.isfinite(v[2]) and v[2] < 0 for v in others)
        else:
            clear = bool(np.isfinite(est[best][1]) and est[best][1] > 0)
        clear = clear and row["n_tasks"] >= MIN_TASKS
        row.update(recommended=PARADIGM_NAME[best], evidence="clear" if clear else "weak")
        rows.append(row)
    return pd.DataFrame(rows)
