"""The aggregation guideline derived from measured changes, and its comparison with the study's.

Data scale is judged per clinical group, as in the study: a group's scale is the total number of training images of
its tasks in that experiment (the CG model's training set). A group is *data-rich* when its total is at least the
median over the multi-task groups of the main experiment, else *data-scarce*. Groups of one task are left out of
every CG statement (their CG model is a TS model).

Every statistic below comes with a 95% interval from a bootstrap over tasks (a task's rows in several experiments
move together). A claim of the study is:
- ``agree`` when the interval excludes zero in the direction the claim states;
- ``disagree`` when it excludes zero in the opposite direction;
- ``not supported`` when it includes zero or fewer than ``MIN_TASKS`` tasks were measured.
Reasons always name the data (synthetic or not), the profile and the numbers of tasks, so that a disagreement on a
small synthetic benchmark is never read as a refutation of the study.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from m2dino.analysis.study import CLAIMS

N_BOOT = 1000
MIN_TASKS = 3  # fewer tasks than this give no verdict and no "clear" recommendation: a bootstrap over 2 is noise
PARADIGM_NAME = {"single": "single (TS)", "clinical": "clinical-group (CG)", "all": "all-task (AU)"}


def add_group_scale(changes: pd.DataFrame, threshold: float | None = None) -> tuple[pd.DataFrame, float]:
    """``changes`` with ``group_n_train``, ``group_size`` and ``scale`` (data-rich/data-scarce) columns, and the
    threshold used (default: median group total of the main experiment's multi-task groups)."""
    per_task = changes.drop_duplicates(["experiment", "task"])[["experiment", "group", "task", "n_train"]]
    tot = per_task.groupby(["experiment", "group"]).agg(group_n_train=("n_train", "sum"),
                                                         group_size=("task", "nunique")).reset_index()
    out = changes.merge(tot, on=["experiment", "group"], how="left")
    if threshold is None:
        base = tot[(tot["experiment"] == "main") & (tot["group_size"] > 1)]
        base = base if len(base) else tot[tot["group_size"] > 1]
        if base.empty:
            raise ValueError("no multi-task clinical group among the results: data scale cannot be judged")
        threshold = float(base["group_n_train"].median())
    out["scale"] = np.where(out["group_n_train"] >= threshold, "data-rich", "data-scarce")
    return out, threshold


Cols = dict[str, np.ndarray]


def _boot(df: pd.DataFrame, stat: Callable[[Cols, np.ndarray], float], n_boot: int = N_BOOT,
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
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(n_boot):
        counts = np.bincount(rng.integers(0, len(tasks), len(tasks)), minlength=len(tasks))
        v = stat(cols, counts[code].astype(float))
        if np.isfinite(v):
            vals.append(v)
    if len(vals) < n_boot // 2:
        return point, np.nan, np.nan
    lo, hi = np.percentile(vals, [2.5, 97.5])
    return point, float(lo), float(hi)


def _wmean(x: np.ndarray, w: np.ndarray) -> float:
    return float((w * x).sum() / w.sum()) if w.sum() > 0 else np.nan


def _group_means(key: np.ndarray, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted mean of ``x`` per value of ``key`` (only keys with weight)."""
    _, k = np.unique(key, return_inverse=True)
    s, n = np.bincount(k, w * x), np.bincount(k, w)
    return s[n > 0] / n[n > 0]


def _mean_of(paradigm: str) -> Callable[[Cols, np.ndarray], float]:
    def stat(d: Cols, w: np.ndarray) -> float:
        m = d["paradigm"] == paradigm
        return _wmean(d["change"].astype(float)[m], w[m])
    return stat


def derive_guideline(changes: pd.DataFrame, threshold: float | None = None, n_boot: int = N_BOOT) -> pd.DataFrame:
    """Which paradigm to use per data scale and task type, from per-task changes of CG and AU against TS.

    The recommendation is the paradigm with the best mean change (TS counts as 0). It is ``clear`` when that mean's
    interval excludes 0 (for TS: when both CG's and AU's intervals lie below 0), else ``weak``.
    """
    c, _ = add_group_scale(changes.dropna(subset=["change"]), threshold)
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


def _verdict(point: float, lo: float, hi: float, sign: int, n: int, what: str, context: str) -> tuple[str, str]:
    if not np.isfinite(point):
        return "not supported", f"no measurement for {what} ({context})"
    if n < MIN_TASKS or not (np.isfinite(lo) and np.isfinite(hi)):
        return "not supported", (f"{what} = {point:+.2f} from {n} task(s): too few for a verdict (at least "
                                 f"{MIN_TASKS} needed) ({context})")
    txt = f"{what} = {point:+.2f} [{lo:+.2f}, {hi:+.2f}] over {n} tasks ({context})"
    tol = 1e-9 * max(1.0, abs(point))  # a bound that is zero up to rounding does not exclude zero
    lo, hi = (0.0 if abs(lo) < tol else lo), (0.0 if abs(hi) < tol else hi)
    if (sign > 0 and lo > 0) or (sign < 0 and hi < 0):
        return "agree", txt
    if (sign > 0 and hi < 0) or (sign < 0 and lo > 0):
        return "disagree", txt + "; possible reasons: synthetic stand-in data, reduced scale or budget, few seeds"
    return "not supported", txt + ": the interval includes 0"


def _slope(d: Cols, w: np.ndarray) -> float:
    """Weighted least-squares slope of change on log n_train."""
    x, y = np.log(d["n_train"].astype(float)), d["change"].astype(float)
    if len(np.unique(x[w > 0])) < 2:
        return np.nan
    xm, ym = _wmean(x, w), _wmean(y, w)
    return float((w * (x - xm) * (y - ym)).sum() / (w * (x - xm) ** 2).sum())


def compare_with_study(changes: pd.DataFrame, context: str, threshold: float | None = None,
                       n_boot: int = N_BOOT) -> pd.DataFrame:
    """Each of the study's claims (``m2dino.analysis.study.CLAIMS``) with our verdict and the reason.

    ``context`` names the evidence, e.g. ``"profile=demo, seeds [0], synthetic data"``.
    """
    c, thr = add_group_scale(changes.dropna(subset=["change"]), threshold)
    multi = c[c["group_size"] > 1]
    cg, au = multi[multi["paradigm"] == "clinical"], c[c["paradigm"] == "all"]
    scarce_cg, rich_cg = cg[cg["scale"] == "data-scarce"], cg[cg["scale"] == "data-rich"]
    ctx = f"{context}; data-rich = group total ≥ {thr:.0f} training images"

    # AU minus CG per (experiment, task), paired, in data-scarce multi-task groups
    pair = c[(c["scale"] == "data-scarce") & (c["group_size"] > 1)].pivot_table(
        index=["experiment", "task"], columns="paradigm", values="change")
    diff = (pair["all"] - pair["clinical"]).dropna().rename("change").reset_index() \
        if {"all", "clinical"} <= set(pair.columns) else pd.DataFrame(columns=["experiment", "task", "change"])

    def mean_change(d: Cols, w: np.ndarray) -> float:
        return _wmean(d["change"].astype(float), w)

    def spread_gap(d: Cols, w: np.ndarray) -> float:  # SD over groups of group means: CG minus AU
        sd = {}
        for p in ("clinical", "all"):
            m = (d["paradigm"] == p) & (d["group_size"] > 1)
            g = _group_means(d["experiment_group"][m], d["change"].astype(float)[m], w[m])
            sd[p] = float(np.std(g, ddof=1)) if len(g) > 1 else np.nan
        return sd["clinical"] - sd["all"]

    def seg_gap(d: Cols, w: np.ndarray) -> float:  # min(mean cls, mean reg) minus mean seg
        t, x = d["type"], d["change"].astype(float)
        mean = {k: _wmean(x[t == k], w[t == k]) for k in ("segmentation", "classification", "regression")}
        others = [mean[k] for k in ("classification", "regression") if np.isfinite(mean[k])]
        return float(min(others) - mean["segmentation"]) if others else np.nan

    tests = {
        "scale_dependence": (cg, _slope, +1, "slope of CG change (%) per unit log n_train"),
        "cg_scarce_negative": (scarce_cg, _mean_of("clinical"), -1, "mean CG change (%) in data-scarce groups"),
        "au_over_cg_scarce": (diff, mean_change, +1,
                              "mean AU − CG change (%) in data-scarce groups"),
        "cg_rich_gain": (rich_cg, _mean_of("clinical"), +1, "mean CG change (%) in data-rich groups"),
        "au_consistent": (c[c["paradigm"].isin(["clinical", "all"])], spread_gap, +1,
                          "SD over groups of the mean change, CG minus AU"),
        "segmentation_drops_most": (c[c["paradigm"].isin(["clinical", "all"])], seg_gap, +1,
                                    "min(mean cls, mean reg) − mean seg change (%)"),
    }
    rows = []
    for claim in CLAIMS:
        d, stat, sign, what = tests[claim.key]
        point, lo, hi = _boot(d, stat, n_boot) if len(d) else (np.nan, np.nan, np.nan)
        verdict, reason = _verdict(point, lo, hi, sign, d["task"].nunique() if len(d) else 0, what, ctx)
        rows.append({"claim": claim.key, "study_says": claim.text, "source": f"study [{claim.grade}]",
                     "statistic": what, "value": point, "ci_low": lo, "ci_high": hi, "verdict": verdict,
                     "reason": reason})
    return pd.DataFrame(rows)
