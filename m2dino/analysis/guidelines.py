"""The aggregation guideline derived from measured changes, and its comparison with the study's.

Data scale is judged per clinical group, as in the study: a group's scale is the total number of training images of
its tasks in that experiment (the CG model's training set). A group is *data-rich* when its total is at least the
median over the multi-task groups of the main experiment, else *data-scarce*. Groups of one task are left out of
every CG statement (their CG model is a TS model).

Every statistic below comes with a 95% interval from a bootstrap over tasks (a task's rows in several experiments
move together). A claim of the study is:
- ``agree`` when the interval excludes zero in the direction the claim states;
- ``disagree`` when it excludes zero in the opposite direction;
- ``not supported`` when it includes zero or too few tasks were measured.
Reasons always name the data (synthetic or not), the profile and the numbers of tasks, so that a disagreement on a
small synthetic benchmark is never read as a refutation of the study.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from m2dino.analysis.study import CLAIMS

N_BOOT = 1000
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


def _boot(df: pd.DataFrame, stat: Callable[[pd.DataFrame], float], n_boot: int = N_BOOT,
          seed: int = 0) -> tuple[float, float, float]:
    """Statistic and 95% percentile interval, resampling tasks (clusters of rows) with replacement."""
    point = stat(df)
    tasks = df["task"].unique()
    if len(tasks) < 2 or not np.isfinite(point):
        return point, np.nan, np.nan
    rng = np.random.default_rng(seed)
    df = df.reset_index(drop=True)
    rows_of = [np.flatnonzero(df["task"].to_numpy() == t) for t in tasks]
    vals = []
    for _ in range(n_boot):
        pick = rng.integers(0, len(tasks), size=len(tasks))
        idx = np.concatenate([rows_of[k] for k in pick])
        label = np.repeat(np.arange(len(pick)), [len(rows_of[k]) for k in pick])
        v = stat(df.iloc[idx].assign(task=label))
        if np.isfinite(v):
            vals.append(v)
    if len(vals) < n_boot // 2:
        return point, np.nan, np.nan
    lo, hi = np.percentile(vals, [2.5, 97.5])
    return point, float(lo), float(hi)


def _mean_of(paradigm: str) -> Callable[[pd.DataFrame], float]:
    def stat(d: pd.DataFrame) -> float:
        v = d.loc[d["paradigm"] == paradigm, "change"]
        return float(v.mean()) if len(v) else np.nan
    return stat


def derive_guideline(changes: pd.DataFrame, threshold: float | None = None, n_boot: int = N_BOOT) -> pd.DataFrame:
    """Which paradigm to use per data scale and task type, from per-task changes of CG and AU against TS.

    The recommendation is the paradigm with the best mean change (TS counts as 0). It is ``clear`` when that mean's
    interval excludes 0 (for TS: when both CG's and AU's intervals lie below 0), else ``weak``.
    """
    c, _ = add_group_scale(changes, threshold)
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
        row.update(recommended=PARADIGM_NAME[best], evidence="clear" if clear else "weak")
        rows.append(row)
    return pd.DataFrame(rows)


def _verdict(point: float, lo: float, hi: float, sign: int, n: int, what: str, context: str) -> tuple[str, str]:
    if not np.isfinite(point):
        return "not supported", f"no measurement for {what} ({context})"
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "not supported", f"{what} = {point:+.2f} from {n} task(s): too few for an interval ({context})"
    txt = f"{what} = {point:+.2f} [{lo:+.2f}, {hi:+.2f}] over {n} tasks ({context})"
    if (sign > 0 and lo > 0) or (sign < 0 and hi < 0):
        return "agree", txt
    if (sign > 0 and hi < 0) or (sign < 0 and lo > 0):
        return "disagree", txt + "; possible reasons: synthetic stand-in data, reduced scale or budget, few seeds"
    return "not supported", txt + ": the interval includes 0"


def _slope(d: pd.DataFrame) -> float:
    x, y = np.log(d["n_train"].to_numpy(float)), d["change"].to_numpy(float)
    if len(np.unique(x)) < 2:
        return np.nan
    return float(np.polyfit(x, y, 1)[0])


def compare_with_study(changes: pd.DataFrame, context: str, threshold: float | None = None,
                       n_boot: int = N_BOOT) -> pd.DataFrame:
    """Each of the study's claims (``m2dino.analysis.study.CLAIMS``) with our verdict and the reason.

    ``context`` names the evidence, e.g. ``"profile=demo, seeds [0], synthetic data"``.
    """
    c, thr = add_group_scale(changes, threshold)
    multi = c[c["group_size"] > 1]
    cg, au = multi[multi["paradigm"] == "clinical"], c[c["paradigm"] == "all"]
    scarce_cg, rich_cg = cg[cg["scale"] == "data-scarce"], cg[cg["scale"] == "data-rich"]
    ctx = f"{context}; data-rich = group total ≥ {thr:.0f} training images"

    def au_minus_cg(d: pd.DataFrame) -> float:
        w = d.pivot_table(index=["experiment", "task"], columns="paradigm", values="change")
        if not {"all", "clinical"} <= set(w.columns):
            return np.nan
        return float((w["all"] - w["clinical"]).mean())

    def spread_gap(d: pd.DataFrame) -> float:  # SD over groups of the group means: CG minus AU (>0: AU steadier)
        g = d[d["group_size"] > 1].groupby(["paradigm", "experiment", "group"])["change"].mean()
        sd = {p: g.loc[p].std() for p in ("clinical", "all") if p in g.index.get_level_values(0)}
        return float(sd["clinical"] - sd["all"]) if len(sd) == 2 else np.nan

    def seg_gap(d: pd.DataFrame) -> float:  # min(mean cls, mean reg) minus mean seg (>0: segmentation drops most)
        m = d.groupby("type")["change"].mean()
        others = [m[t] for t in ("classification", "regression") if t in m.index]
        return float(min(others) - m["segmentation"]) if "segmentation" in m.index and others else np.nan

    tests = {
        "scale_dependence": (cg, _slope, +1, "slope of CG change (%) per unit log n_train"),
        "cg_scarce_negative": (scarce_cg, _mean_of("clinical"), -1, "mean CG change (%) in data-scarce groups"),
        "au_over_cg_scarce": (c[(c["scale"] == "data-scarce") & (c["group_size"] > 1)], au_minus_cg, +1,
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
        rows.append({"claim": claim.key, "study says": claim.text, "source": f"study [{claim.grade}]",
                     "statistic": what, "value": point, "ci_low": lo, "ci_high": hi, "verdict": verdict,
                     "reason": reason})
    return pd.DataFrame(rows)
