"""The declared test of each of the study's claims (the protocol table of docs/analysis.md) and its verdict.

Each claim reads ONE experiment family, ``main`` or ``data_scale`` (``PROTOCOL[...].experiment``), never both: a
:class:`~m2dino.analysis.delta_s.TwoStage` of the wrong family is refused with ``PooledEvidenceError``. Statistics
are on the headroom scale (Δs, ``m2dino.analysis.delta_s``) with two-stage (seed, image) bootstrap intervals.

Verdicts (:func:`verdict`):
- ``agree``: the 95% interval excludes 0 in the study's direction (two-sided claims: in either direction);
- ``disagree``: it excludes 0 in the other direction;
- ``equivalent``: it lies within ±δ, the claim's equivalence margin;
- ``inconclusive``: none of these; the minimum detectable effect (MDE, 80% power, two-sided 5%) at this design is
  printed beside it.
Existential claims ("can help", "can cause") are about at least one task, after Holm's correction over the claim's
tasks; descriptive claims are always ``inconclusive``, with the reason.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm

from m2dino.analysis.delta_s import (ALPHA, MDE_FACTOR, POWER, PooledEvidenceError, TwoStage, bootstrap_p, holm,
                                     interval, standard_error, ts_beats_everywhere,
                                     wald_interval)
from m2dino.analysis.study import CLAIMS

VERDICTS = ("agree", "disagree", "equivalent", "inconclusive")


@dataclass(frozen=True)
class Protocol:
    """One row of the protocol table: the claim's declared test."""

    key: str
    study_claim: str   # key of m2dino.analysis.study.CLAIMS
    experiment: str    # "main" or "data_scale": the runs it reads
    paradigm: str      # the comparison it reads (CG or AU vs TS; "both" for a contrast of the two)
    statistic: str
    rule: str
    direction: int     # +1 / -1: the study's direction; 0: two-sided
    delta: float       # equivalence margin (headroom units, or per doubling for the slope)
    kind: str          # "mean", "existential", "slope", "descriptive"


PROTOCOL: tuple[Protocol, ...] = (
    Protocol("scale_dependence", "scale_dependence", "data_scale", "clinical",
             "mean over the data-scale groups' tasks of the within-task slope of Δs (CG vs TS) per doubling of the "
             "training fraction (fraction × paradigm interaction)",
             "two-sided: agree if the 95% interval excludes 0; equivalent if within ±δ", 0, 0.05, "slope"),
    Protocol("cg_scarce_negative", "cg_scarce_negative", "main", "clinical",
             "per-task Δs (CG vs TS) in data-scarce groups; the row shows the most significant task in the study's "
             "direction, with its Wald interval (bootstrap SE) at Holm's first-step level 1 − 0.05/m",
             "existential: agree if ≥ 1 task has Holm p < 0.05 with Δs < 0; disagree if every task has Holm "
             "p < 0.05 with Δs > 0; equivalent if every task's interval lies within ±δ", -1, 0.05, "existential"),
    Protocol("cg_rich_gain", "cg_rich_gain", "main", "clinical",
             "per-task Δs (CG vs TS) in data-rich groups; the row shows the most significant task in the study's "
             "direction, with its Wald interval (bootstrap SE) at Holm's first-step level 1 − 0.05/m",
             "existential: agree if ≥ 1 task has Holm p < 0.05 with Δs > 0; disagree if every task has Holm "
             "p < 0.05 with Δs < 0; equivalent if every task's interval lies within ±δ", +1, 0.05, "existential"),
    Protocol("au_over_cg_scarce", "au_over_cg_scarce", "main", "both",
             "mean over data-scarce groups' tasks of Δs_AU − Δs_CG (paired: same seeds and images)",
             "one direction (+): agree / disagree if the 95% interval excludes 0; equivalent if within ±δ", +1, 0.05,
             "mean"),
    Protocol("au_consistent", "au_consistent", "main", "both",
             "SD over multi-task clinical groups of the group mean Δs, CG minus AU",
             "descriptive only: a spread over a handful of groups (the study's statement rests on 3) is not "
             "tested; always inconclusive", +1, 0.05, "descriptive"),
    Protocol("segmentation_drops_most_cg", "segmentation_drops_most", "main", "clinical",
             "min(mean Δs classification, mean Δs regression) − mean Δs segmentation, CG vs TS, over tasks where "
             "TS beats the trivial predictor in every seed",
             "one direction (+): agree / disagree if the 95% interval excludes 0; equivalent if within ±δ", +1, 0.05,
             "mean"),
    Protocol("segmentation_drops_most_au", "segmentation_drops_most", "main", "all",
             "min(mean Δs classification, mean Δs regression) − mean Δs segmentation, AU vs TS, over tasks where "
             "TS beats the trivial predictor in every seed",
             "one direction (+): agree / disagree if the 95% interval excludes 0; equivalent if within ±δ", +1, 0.05,
             "mean"),
)
MIN_TASKS = 2  # a mean or slope over fewer tasks gives no interval worth a verdict


def verdict(lo: float, hi: float, direction: int, delta: float) -> str:
    """The four-way verdict of an interval [lo, hi] (see the module notes); a bound that is 0 up to rounding does not
    exclude 0."""
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "inconclusive"
    tol = 1e-12
    above, below = lo > tol, hi < -tol
    if direction == 0 and (above or below):
        return "agree"
    if (direction > 0 and above) or (direction < 0 and below):
        return "agree"
    if (direction > 0 and below) or (direction < 0 and above):
        return "disagree"
    if -delta <= lo and hi <= delta:
        return "equivalent"
    return "inconclusive"


def _runs(pts: pd.DataFrame) -> str:
    exps = sorted(pts["experiment"].unique())
    seeds = sorted({int(s) for ss in pts["seeds"] for s in str(ss).split(",")})
    return f"{', '.join(exps)}: {', '.join(sorted(set(pts['comparison'])))}, {pts['task'].nunique()} tasks, seeds {seeds}"


def _row(p: Protocol, grade: str, est: float, lo: float, hi: float, mde: float, v: str, reason: str, runs: str,
         n_tasks: int, claim_text: str) -> dict:
    return {"claim": p.key, "grade": grade, "experiment": p.experiment, "statistic": p.statistic, "estimate": est,
            "ci_low": lo, "ci_high": hi, "mde": mde, "verdict": v, "delta": p.delta, "direction": p.direction,
            "n_tasks": n_tasks, "runs": runs, "reason": reason, "study_says": claim_text, "rule": p.rule}


def claim_verdict(p: Protocol, evidence: TwoStage, rich: Sequence[str], scarce: Sequence[str],
                  beats: pd.DataFrame | None = None, context: str = "") -> dict:
    """The verdict row of one protocol entry from the evidence of its own experiment family."""
    if evidence.family != p.experiment:
        raise PooledEvidenceError(f"claim {p.key!r} reads the {p.experiment} experiment only; got evidence of "
                                  f"{evidence.family!r} (experiments are never pooled)")
    study = next(c for c in CLAIMS if c.key == p.study_claim)
    pts, reps = evidence.points, evidence.reps
    multi = pts.groupby("group")["task"].transform("nunique") > 1 if len(pts) else pd.Series(dtype=bool)
    ctx = f" ({context})" if context else ""

    def out(est, lo, hi, mde, v, reason, sel):
        sub = pts[sel] if sel is not None and np.asarray(sel).any() else pts.iloc[:0]
        return _row(p, study.grade, est, lo, hi, mde, v, reason + ctx, _runs(sub) if len(sub) else "none",
                    int(sub["task"].nunique()) if len(sub) else 0, study.text)

    if p.kind == "existential":
        groups = scarce if p.direction < 0 else rich
        sel = ((pts["paradigm"] == p.paradigm) & pts["group"].isin(groups) & multi).to_numpy()
        return out(*_existential(pts[sel], reps[sel], p), sel)
    if p.kind == "slope":
        sel = (pts["paradigm"] == p.paradigm).to_numpy()
        return out(*_slope(pts[sel].reset_index(drop=True), reps[sel], p), sel)
    if p.key == "au_over_cg_scarce":
        sel = (pts["group"].isin(scarce) & multi).to_numpy()
        d = pts[sel].reset_index(drop=True)
        r = reps[sel]
        cg = d.index[d["paradigm"] == "clinical"].to_numpy()
        au = np.array([d.index[(d["paradigm"] == "all") & (d["task"] == t)][0] if
                       ((d["paradigm"] == "all") & (d["task"] == t)).any() else -1 for t in d.loc[cg, "task"]])
        cg, au = cg[au >= 0], au[au >= 0]
        if len(cg) < MIN_TASKS:
            return out(np.nan, np.nan, np.nan, np.nan, "inconclusive",
                       f"{len(cg)} data-scarce task(s) with both CG and AU: too few", sel)
        est = float((d.loc[au, "delta_s"].to_numpy() - d.loc[cg, "delta_s"].to_numpy()).mean())
        rep = (r[au] - r[cg]).mean(axis=0)
        return out(*_mean_verdict(est, rep, p, f"{len(cg)} tasks of {sorted(set(d['group']))}"), sel)
    if p.kind == "descriptive":
        sel = (pts["paradigm"].isin(["clinical", "all"]) & multi).to_numpy()
        d, r = pts[sel].reset_index(drop=True), reps[sel]
        sds = {}
        rep_sd = {}
        for par in ("clinical", "all"):
            dp = d[d["paradigm"] == par]
            gm = dp.groupby("group")["delta_s"].mean()
            sds[par] = float(gm.std(ddof=1)) if len(gm) > 1 else np.nan
            grp_reps = np.vstack([r[dp.index[dp["group"] == g]].mean(axis=0) for g in gm.index]) if len(gm) else None
            rep_sd[par] = grp_reps.std(axis=0, ddof=1) if grp_reps is not None and len(gm) > 1 else None
        est = sds["clinical"] - sds["all"]
        lo, hi = (interval(rep_sd["clinical"] - rep_sd["all"]) if rep_sd["clinical"] is not None
                  and rep_sd["all"] is not None else (np.nan, np.nan))
        n_groups = d["group"].nunique()
        return out(est, lo, hi, np.nan, "inconclusive",
                   f"descriptive only: SD over {n_groups} groups of the mean Δs, CG {sds['clinical']:.3f} vs AU "
                   f"{sds['all']:.3f}; a spread over so few groups is not tested (the study's statement rests on 3 "
                   "groups)", sel)
    # segmentation drops most (CG or AU), over tasks where TS beats trivial in every seed
    base = (pts["paradigm"] == p.paradigm).to_numpy()
    ok, _ = ts_beats_everywhere(pts, beats)
    sel = base & ok
    d, r = pts[sel].reset_index(drop=True), reps[sel]
    types = {t: d.index[d["type"] == t].to_numpy() for t in ("segmentation", "classification", "regression")}
    others = [t for t in ("classification", "regression") if len(types[t])]
    if not len(types["segmentation"]) or not others:
        return out(np.nan, np.nan, np.nan, np.nan, "inconclusive",
                   f"{int(base.sum())} tasks, {int(sel.sum())} where TS beats trivial: segmentation and "
                   "classification/regression tasks are needed", sel)
    mean = {t: d.loc[types[t], "delta_s"].mean() for t in types if len(types[t])}
    rmean = {t: r[types[t]].mean(axis=0) for t in types if len(types[t])}
    est = float(min(mean[t] for t in others) - mean["segmentation"])
    rep = np.min(np.vstack([rmean[t] for t in others]), axis=0) - rmean["segmentation"]
    return out(*_mean_verdict(est, rep, p, f"{int(sel.sum())} of {int(base.sum())} tasks (TS beats trivial)"), sel)


def _mean_verdict(est: float, rep: np.ndarray, p: Protocol, what: str) -> tuple:
    lo, hi = interval(rep)
    mde = MDE_FACTOR * standard_error(rep)
    v = verdict(lo, hi, p.direction, p.delta)
    return est, lo, hi, mde, v, f"{est:+.3f} [{lo:+.3f}, {hi:+.3f}] over {what}; δ = {p.delta}, MDE {mde:.3f}"


def _existential(d: pd.DataFrame, r: np.ndarray, p: Protocol) -> tuple:
    m = len(d)
    if m == 0:
        return np.nan, np.nan, np.nan, np.nan, "inconclusive", "no task in these groups"
    est = d["delta_s"].to_numpy(float)
    pv = np.array([bootstrap_p(e, x) for e, x in zip(est, r)])
    if not np.isfinite(pv).any():
        return (np.nan, np.nan, np.nan, np.nan, "inconclusive",
                f"{m} tasks but no bootstrap intervals (n_boot=0): no test was run")
    ph = holm(pv)
    sig = ph < ALPHA
    along = np.sign(d["delta_s"].to_numpy()) == p.direction
    level = 1 - ALPHA / m  # Holm's first step: at least one rejection iff some p <= alpha / m
    if along.any():
        cand = np.where(along)[0]
        i = int(cand[np.nanargmin(pv[cand])]) if np.isfinite(pv[cand]).any() else int(cand[0])
    else:
        i = int(np.nanargmax(pv))
    lo, hi = wald_interval(est[i], r[i], level)
    cis = np.array([wald_interval(e, x, level) for e, x in zip(est, r)])
    se = np.nanmedian([standard_error(x) for x in r])
    mde = float((norm.ppf(1 - ALPHA / (2 * m)) + norm.ppf(POWER)) * se)
    n_along = int((sig & along).sum())
    n_against = int((sig & ~along & (d["delta_s"].to_numpy() != 0)).sum())
    if n_along >= 1:
        v = "agree"
    elif n_against == m:
        v = "disagree"
    elif np.isfinite(cis).all() and (cis[:, 0] >= -p.delta).all() and (cis[:, 1] <= p.delta).all():
        v = "equivalent"
    else:
        v = "inconclusive"
    task = d["task"].iloc[i]
    reason = (f"{n_along} of {m} tasks significant in the study's direction after Holm, {n_against} against; "
              f"shown: {task} Δs {d['delta_s'].iloc[i]:+.3f} [{lo:+.3f}, {hi:+.3f}] at level {level:.4f}; "
              f"δ = {p.delta}, MDE per task {mde:.3f}")
    return float(d["delta_s"].iloc[i]), lo, hi, mde, v, reason


def _slope(d: pd.DataFrame, r: np.ndarray, p: Protocol) -> tuple:
    fr = sorted(d["fraction"].unique())
    if len(fr) < 2:
        return (np.nan, np.nan, np.nan, np.nan, "inconclusive",
                f"the data-scale experiment has {len(fr)} training fraction(s) {[float(f) for f in fr]} below 1.0: "
                "a slope needs 2")
    slopes, rep_slopes = [], []
    for _, dt in d.groupby("task", sort=True):
        if dt["fraction"].nunique() < 2:
            continue
        x = np.log2(dt["fraction"].to_numpy(float))
        xc = x - x.mean()
        w = xc / (xc ** 2).sum()  # least-squares slope = sum(w * y)
        slopes.append(float(w @ dt["delta_s"].to_numpy(float)))
        rep_slopes.append(w @ r[dt.index.to_numpy()])
    if len(slopes) < MIN_TASKS:
        return np.nan, np.nan, np.nan, np.nan, "inconclusive", f"{len(slopes)} task(s) at 2+ fractions: too few"
    return _mean_verdict(float(np.mean(slopes)), np.mean(np.vstack(rep_slopes), axis=0), p,
                         f"{len(slopes)} tasks at fractions {[float(f) for f in fr]} (data-scale runs only)")


def verdict_table(main: TwoStage | None, data_scale: TwoStage | None, rich: Sequence[str], scarce: Sequence[str],
                  beats: pd.DataFrame | None = None, context: str = "") -> pd.DataFrame:
    """``verdicts.csv``: one row per protocol entry, each from its own experiment's evidence (missing evidence gives
    ``inconclusive`` with the reason). ``main`` must be the main family and ``data_scale`` the data-scale family."""
    for name, ev in (("main", main), ("data_scale", data_scale)):
        if ev is not None and ev.family != name:
            raise PooledEvidenceError(f"verdict_table: the {name} evidence is of family {ev.family!r}")
    rows = []
    for p in PROTOCOL:
        ev = main if p.experiment == "main" else data_scale
        if ev is None:
            study = next(c for c in CLAIMS if c.key == p.study_claim)
            rows.append(_row(p, study.grade, np.nan, np.nan, np.nan, np.nan, "inconclusive",
                             f"no runs of the {p.experiment} experiment", "none", 0, study.text))
        else:
            rows.append(claim_verdict(p, ev, rich, scarce, beats, context))
    return pd.DataFrame(rows)


VERDICTS_COLUMNS = ["claim", "grade", "experiment", "statistic", "estimate", "ci_low", "ci_high", "mde", "verdict"]
