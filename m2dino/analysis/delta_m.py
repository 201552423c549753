"""Δm: the average per-task relative change of a multi-task model against the task-specific (TS) models.

Convention (Maninis et al., CVPR 2019; Liu et al., 2022 / LibMTL), one primary metric per task:

    Δm = (1/T) Σ_t (-1)^{l_t} (M_t - M_TS,t) / M_TS,t × 100   [%]

with l_t = 1 when lower is better for task t (MRE) and 0 otherwise (Dice, AUC, IoU). Positive Δm = better than TS on
average. T is the number of tasks compared (27 for the full study; the table says when fewer runs exist, or when a
task's TS metric is 0 so that its relative change is undefined and it is left out). It is the
per-task ``change`` of ``m2dino.analysis.change`` averaged over tasks, computed per seed and then averaged over seeds
(``seed_sd`` is the spread over seeds). The two other conventions in the literature — averaging over every metric of
every task (Vandenhende et al.) and taking the relative change of an average score — are not used.
"""
from __future__ import annotations

import pandas as pd

from m2dino.analysis.change import REF_PARADIGM, RunSet, compare_per_seed
from m2dino.registry import all_tasks

CONVENTION = ("Δm = (1/T) Σ_t (-1)^l_t (M_t - M_TS,t)/M_TS,t × 100, l_t = 1 if lower is better (MRE); "
              "one primary metric per task (Dice, AUC, IoU, MRE); Maninis et al. 2019 / Liu et al. 2022")


def delta_m(tidy: pd.DataFrame, new: RunSet, ref: RunSet | None = None, by: str | None = None) -> pd.DataFrame:
    """Δm of ``new`` against ``ref`` (default: TS of the same experiment), per seed averaged over seeds.

    ``by`` (``group`` or ``type``) gives one Δm per subset of tasks. Columns: comparison, [by,] delta_m, seed_sd,
    n_seeds, n_tasks, n_tasks_expected.
    """
    ref = ref or RunSet(new.experiment, REF_PARADIGM)
    per_seed = compare_per_seed(tidy, ref, new)
    keys = ["comparison"] + ([by] if by else [])
    per = (per_seed.groupby(keys + ["seed"], sort=False)
           .agg(delta_m=("change", "mean"), n_tasks=("change", "count")).reset_index())
    out = (per.groupby(keys, sort=False)
           .agg(delta_m=("delta_m", "mean"), seed_sd=("delta_m", "std"), n_seeds=("seed", "nunique"),
                n_tasks=("n_tasks", "min")).reset_index())
    out["seed_sd"] = out["seed_sd"].fillna(0.0)
    expected = pd.Series([t.type if by == "type" else t.group for t in all_tasks()]).value_counts() if by else None
    out["n_tasks_expected"] = out[by].map(expected).astype(int) if by else len(all_tasks())
    return out


def delta_m_table(tidy: pd.DataFrame, experiment: str = "main", paradigms: tuple[str, ...] = ("clinical", "all"),
                  by: str | None = None) -> pd.DataFrame:
    """Δm of each paradigm present in ``experiment`` against its TS runs."""
    have = set(tidy.loc[tidy["experiment"] == experiment, "paradigm"])
    parts = [delta_m(tidy, RunSet(experiment, p), by=by) for p in paradigms if p in have]
    if not parts:
        raise ValueError(f"experiment {experiment!r} has none of the paradigms {list(paradigms)}")
    return pd.concat(parts, ignore_index=True)
