"""Per-task change of one set of runs against another (by default: each paradigm against task-specific, TS).

The change of task t is the relative change of its primary metric, direction-aware so that positive is better
(MRE: lower is better), in percent:  change_t = d_t (M_new,t - M_ref,t) / M_ref,t x 100,  d_t = +1 (Dice, AUC, IoU) or
-1 (MRE). Its 95% interval comes from a paired bootstrap over test images
(``m2dino.metrics.paired_bootstrap_change``, images matched by path) within each seed.

Averaging over seeds: the change is the mean over the seeds present in both sets; the interval is the mean of the
per-seed interval bounds (conservative: exact if the seeds' errors were perfectly correlated, wider than needed if they
are independent). Seed-to-seed spread is reported separately as ``seed_sd``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from m2dino.analysis.tidy import primary_table, read_per_image
from m2dino.metrics.bootstrap import relative
from m2dino.registry import get_task

REF_PARADIGM = "single"
PARADIGM_LABEL = {"single": "TS", "clinical": "CG", "all": "AU"}


@dataclass(frozen=True)
class RunSet:
    """A set of runs: one experiment and paradigm (all its units and seeds)."""

    experiment: str
    paradigm: str

    @property
    def label(self) -> str:
        p = PARADIGM_LABEL.get(self.paradigm, self.paradigm)
        return p if self.experiment == "main" else f"{p} ({self.experiment})"


def _paired_change(task: str, ref_dir: str, new_dir: str, n_boot: int, seed: int) -> dict:
    from m2dino.metrics import paired_bootstrap_change

    res = paired_bootstrap_change(task, read_per_image(Path(ref_dir), task), read_per_image(Path(new_dir), task),
                                  n_boot=n_boot, seed=seed)
    return {k: float(res[k]) * CHANGE_SCALE for k in ("change", "ci_low", "ci_high")}


# paired_bootstrap_change returns a fraction (0.1 = 10% better); the tables here are in percent.
CHANGE_SCALE = 100.0


def relative_change(task: str, ref: float, new: float) -> float:
    """Direction-aware relative change in percent (positive = better), the per-task term of Δm.

    NaN when the reference is 0 or not finite (e.g. a TS model with Dice 0 at the smoke profile): no relative change
    is defined, and such tasks are left out of means and Δm, whose task counts say so.
    """
    if not np.isfinite(ref) or not np.isfinite(new):
        return float("nan")
    return float(relative(new, ref, get_task(task).direction)) * 100.0


def compare_per_seed(tidy: pd.DataFrame, ref: RunSet, new: RunSet, n_boot: int = 1000, seed: int = 0,
                     bootstrap: bool = True) -> pd.DataFrame:
    """Change of ``new`` against ``ref`` for every task and seed present in both (one row each).

    ``bootstrap=False`` skips the intervals (point changes from metrics.csv only, e.g. for quick tables).
    """
    prim = primary_table(tidy)
    a = prim[(prim["experiment"] == ref.experiment) & (prim["paradigm"] == ref.paradigm)]
    b = prim[(prim["experiment"] == new.experiment) & (prim["paradigm"] == new.paradigm)]
    keys = ["task", "seed"]
    m = a[keys + ["value", "run_dir"]].merge(
        b[keys + ["type", "group", "unit", "metric", "n_train", "n_test", "value", "run_dir"]],
        on=keys, suffixes=("_ref", "_new"))
    rows = []
    for r in m.itertuples(index=False):
        row = {"comparison": f"{new.label} vs {ref.label}", "experiment": new.experiment, "paradigm": new.paradigm,
               "ref_experiment": ref.experiment, "ref_paradigm": ref.paradigm, "task": r.task, "type": r.type,
               "group": r.group, "unit": r.unit, "seed": int(r.seed), "metric": r.metric, "n_train": r.n_train,
               "n_test": r.n_test, "ref_value": r.value_ref, "new_value": r.value_new,
               "change": relative_change(r.task, r.value_ref, r.value_new)}
        if bootstrap:
            boot = _paired_change(r.task, r.run_dir_ref, r.run_dir_new, n_boot, seed)
            row.update(ci_low=boot["ci_low"], ci_high=boot["ci_high"], change_boot=boot["change"])
        else:
            row.update(ci_low=np.nan, ci_high=np.nan, change_boot=np.nan)
        rows.append(row)
    out = pd.DataFrame(rows)
    if out.empty:
        raise ValueError(f"no task has runs of both {ref.label} and {new.label} with a common seed")
    return out


def seed_average(per_seed: pd.DataFrame) -> pd.DataFrame:
    """One row per comparison and task: mean change over seeds, mean interval bounds, seed spread."""
    keys = ["comparison", "experiment", "paradigm", "ref_experiment", "ref_paradigm", "task", "type", "group",
            "metric"]
    g = per_seed.groupby(keys, sort=False)
    out = g.agg(change=("change", "mean"), change_boot=("change_boot", "mean"), ci_low=("ci_low", "mean"), ci_high=("ci_high", "mean"),
                seed_sd=("change", "std"), n_seeds=("seed", "nunique"), ref_value=("ref_value", "mean"),
                new_value=("new_value", "mean"), n_train=("n_train", "mean"), n_test=("n_test", "mean")).reset_index()
    out["seed_sd"] = out["seed_sd"].fillna(0.0)
    out["seeds"] = g["seed"].apply(lambda s: ",".join(str(int(x)) for x in sorted(s.unique()))).values
    return out


def task_changes(tidy: pd.DataFrame, experiment: str = "main", paradigms: tuple[str, ...] = ("clinical", "all"),
                 n_boot: int = 1000, seed: int = 0, bootstrap: bool = True) -> pd.DataFrame:
    """Seed-averaged per-task change of each paradigm against TS within one experiment (rows: paradigm x task)."""
    ref = RunSet(experiment, REF_PARADIGM)
    parts = [seed_average(compare_per_seed(tidy, ref, RunSet(experiment, p), n_boot, seed, bootstrap))
             for p in paradigms if ((tidy["experiment"] == experiment) & (tidy["paradigm"] == p)).any()]
    if not parts:
        raise ValueError(f"experiment {experiment!r} has no runs of {list(paradigms)}")
    return pd.concat(parts, ignore_index=True)


def aggregate(changes: pd.DataFrame, by: str) -> pd.DataFrame:
    """Per-task changes summarised per comparison and ``by`` (``group`` or ``type``): mean, median, range and counts
    of significant negative and positive transfer (see ``m2dino.analysis.transfer``)."""
    from m2dino.analysis.transfer import classify

    c = classify(changes)
    g = c.groupby(["comparison", by], sort=False)
    out = g.agg(n_tasks=("change", "count"), n_undefined=("change", lambda v: int(v.isna().sum())),
                mean_change=("change", "mean"), median_change=("change", "median"),
                min_change=("change", "min"), max_change=("change", "max"),
                n_negative=("transfer", lambda s: int((s == "negative").sum())),
                n_positive=("transfer", lambda s: int((s == "positive").sum()))).reset_index()
    return out
