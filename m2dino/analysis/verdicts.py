"""The declared test of each of the study's claims (the protocol table of docs/analysis.md) and its verdict.

Each claim reads ONE experiment family, ``main`` or ``data_scale`` (``PROTOCOL[...].experiment``), never both: an
:class:`~m2dino.analysis.delta_s.Evidence` of the wrong family is refused with ``PooledEvidenceError``. Statistics
are on the headroom scale (Δs), with intervals from the crossed seed × image model (``m2dino.analysis.inference``).

**Families.** Each row names its Holm family (``Protocol.family``): the tests whose error rate it controls together.
Holm's adjusted p-values come from the family's tests, and each test's interval is its Holm-adjusted interval
(level 1 − α p/p_Holm, between 1 − α/m and 1 − α), so that an interval excludes 0 exactly when Holm rejects.

**Verdicts** (:func:`verdict`), in this order of test, with δ the claim's equivalence margin
(``conf/analysis.yaml: claims``):
- ``agree``: the interval excludes 0 in the study's direction and reaches beyond δ;
- ``agree_below_delta``: it excludes 0 in the study's direction but lies inside ±δ (real but negligible);
- ``disagree``: it excludes 0 in the other direction;
- ``equivalent``: it lies inside ±δ (and covers 0);
- ``inconclusive``: none of these; the minimum detectable effect (80% power at the family's level α/m) beside it.

Kinds of rows: ``single`` (one mean or slope), ``all_of`` (segmentation drops most: three contrasts that must all
hold; the row's interval is [min lower, min upper] of them) and ``exists`` (an existential claim over tasks, see
:func:`existential_verdict`). With fewer than 2 seeds no seed variance is estimable and the verdict is
inconclusive.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from m2dino.analysis.delta_s import Evidence, PooledEvidenceError, ts_beats_everywhere
from m2dino.analysis.inference import ALPHA, Estimate, holm, holm_levels
from m2dino.analysis.study import CLAIMS

VERDICTS = ("agree", "agree_below_delta", "disagree", "equivalent", "inconclusive")
DELTA_MULTIPLIERS = (0.5, 1.0, 2.0)  # the sensitivity table: each verdict at δ/2, δ and 2δ
MIN_TASKS = 2  # a mean or slope over fewer tasks gives no interval worth a verdict


@dataclass(frozen=True)
class Protocol:
    """One row of the protocol table: the claim's declared test (δ and its reason live in conf/analysis.yaml)."""

    key: str
    study_claim: str   # key of m2dino.analysis.study.CLAIMS
    experiment: str    # "main" or "data_scale": the runs it reads
    paradigm: str      # the comparison it reads (CG or AU vs TS; "both" for a contrast of the two)
    statistic: str
    rule: str
    direction: int     # +1 / -1: the study's direction
    kind: str          # "single", "all_of" or "exists"
    family: str        # the Holm family: the tests whose family-wise error rate is controlled together


EXISTS_RULE = ("existential: agree if ≥ 1 task's Holm-adjusted interval lies beyond 0 in the study's direction "
               "(agree_below_delta if none of those reaches beyond δ); disagree if every task's interval excludes an "
               "effect of δ or more in the study's direction and at least one lies beyond 0 the other way; "
               "equivalent if every interval lies within ±δ")
SINGLE_RULE = "one direction ({}): the five outcomes on the 95% interval (Holm-adjusted within the family)"
ALL_OF_RULE = ("all three contrasts must be above 0: the five outcomes on [min lower, min upper] of their "
               "Holm-adjusted intervals")

PROTOCOL: tuple[Protocol, ...] = (
    Protocol("scale_dependence_rich", "scale_dependence", "data_scale", "clinical",
             "mean over the data-rich groups' tasks of the within-task slope of Δs (CG vs TS) per doubling of the "
             "training fraction (data-scale runs)", SINGLE_RULE.format("+: CG gains as the data grow"), +1, "single",
             "scale_dependence: the two slopes (rich, scarce)"),
    Protocol("scale_dependence_scarce", "scale_dependence", "data_scale", "clinical",
             "mean over the data-scarce groups' tasks of the within-task slope of Δs (CG vs TS) per doubling of the "
             "training fraction (data-scale runs)", SINGLE_RULE.format("−: CG loses as the data grow"), -1, "single",
             "scale_dependence: the two slopes (rich, scarce)"),
    Protocol("cg_scarce_negative", "cg_scarce_negative", "main", "clinical",
             "per-task Δs (CG vs TS) in the data-scarce groups; shown: the decisive task with its Holm-adjusted "
             "interval", EXISTS_RULE, -1, "exists", "cg_scarce_negative: the data-scarce groups' tasks"),
    Protocol("cg_rich_gain", "cg_rich_gain", "main", "clinical",
             "per-task Δs (CG vs TS) in the data-rich groups; shown: the decisive task with its Holm-adjusted "
             "interval", EXISTS_RULE, +1, "exists", "cg_rich_gain: the data-rich groups' tasks"),
    Protocol("au_over_cg_scarce", "au_over_cg_scarce", "main", "both",
             "mean over the data-scarce groups' tasks of Δs_AU − Δs_CG (paired: same seeds and images)",
             SINGLE_RULE.format("+"), +1, "single", "au_over_cg_scarce: this test alone"),
    Protocol("segmentation_drops_most_cg", "segmentation_drops_most", "main", "clinical",
             "three contrasts of mean Δs (CG vs TS) over tasks where TS beats the trivial predictor in every seed: "
             "−segmentation, classification − segmentation, regression − segmentation", ALL_OF_RULE, +1, "all_of",
             "segmentation_drops_most: the 6 contrasts (CG and AU)"),
    Protocol("segmentation_drops_most_au", "segmentation_drops_most", "main", "all",
             "the same three contrasts, AU vs TS", ALL_OF_RULE, +1, "all_of",
             "segmentation_drops_most: the 6 contrasts (CG and AU)"),
)
CONTRASTS = ("segmentation below 0", "classification above segmentation", "regression above segmentation")


def claim_deltas(profile: str) -> dict[str, tuple[float, str]]:
    """δ and its reason per protocol row, from ``conf/analysis.yaml: claims`` (every row must have one)."""
    from m2dino.analysis.settings import SETTINGS_YAML, settings

    claims = settings(profile).get("claims") or {}
    missing = [p.key for p in PROTOCOL if p.key not in claims]
    if missing:
        raise ValueError(f"{SETTINGS_YAML}: claims: no δ for {missing}")
    return {p.key: (float(claims[p.key].delta), str(claims[p.key].reason)) for p in PROTOCOL}


def verdict(lo: float, hi: float, direction: int, delta: float) -> str:
    """The five-way verdict of an interval [lo, hi] (module notes); a bound that is 0 up to rounding does not
    exclude 0."""
    if direction not in (-1, 1):
        raise ValueError(f"direction must be +1 or -1, got {direction!r}")
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "inconclusive"
    tol = 1e-12
    lo_d, hi_d = sorted((direction * lo, direction * hi))  # in the study's direction: + is along the claim
    if lo_d > tol:
        return "agree" if hi_d > delta else "agree_below_delta"
    if hi_d < -tol:
        return "disagree"
    if -delta <= lo_d and hi_d <= delta:
        return "equivalent"
    return "inconclusive"


def existential_verdict(lo: np.ndarray, hi: np.ndarray, direction: int, delta: float) -> str:
    """Verdict of "at least one task shows the effect" from the tasks' Holm-adjusted intervals:
    agree (agree_below_delta) if some interval lies beyond 0 in the study's direction (and one of those reaches
    beyond δ); disagree if no task can have an effect of δ or more in the study's direction and at least one lies
    beyond 0 the other way; equivalent if every interval lies within ±δ; else inconclusive.

    The "beyond 0 the other way" keeps *disagree* (the effect goes the other way) apart from *equivalent* (there is
    none), which the order of the outcomes would otherwise merge."""
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    if lo.size == 0 or not (np.isfinite(lo).all() and np.isfinite(hi).all()):
        return "inconclusive"
    tol = 1e-12
    a, b = np.minimum(direction * lo, direction * hi), np.maximum(direction * lo, direction * hi)
    along = a > tol
    if along.any():
        return "agree" if (b[along] > delta).any() else "agree_below_delta"
    if (b < delta).all() and (b < -tol).any():
        return "disagree"
    if (a >= -delta).all() and (b <= delta).all():
        return "equivalent"
    return "inconclusive"


# ---- the tests of each row --------------------------------------------------------------------------------------

@dataclass
class Tests:
    """What one row tests: ``labels`` and ``estimates`` (with the study's direction), the rows of the evidence it
    read (``sel``), and a description; ``why`` says why there is no test when ``estimates`` is empty."""

    labels: list[str]
    estimates: list[Estimate]
    sel: np.ndarray
    what: str = ""
    why: str = ""


def row_tests(p: Protocol, ev: Evidence, rich: Sequence[str], scarce: Sequence[str],
              beats: pd.DataFrame | None = None) -> Tests:
    """The tests of one protocol row on the evidence of its own experiment family."""
    if ev.family != p.experiment:
        raise PooledEvidenceError(f"claim {p.key!r} reads the {p.experiment} experiment only; got evidence of "
                                  f"{ev.family!r} (experiments are never pooled)")
    pts = ev.points
    multi = (pts.groupby("group")["task"].transform("nunique") > 1).to_numpy() if len(pts) else np.zeros(0, bool)
    if p.kind == "exists":
        groups = scarce if p.direction < 0 else rich
        sel = ((pts["paradigm"] == p.paradigm) & pts["group"].isin(groups)).to_numpy() & multi
        idx = np.flatnonzero(sel & np.isfinite(pts["delta_s"].to_numpy()))
        if not len(idx):
            return Tests([], [], sel, why=f"no task of a multi-task group in {list(groups)} with CG and TS runs")
        return Tests(list(pts.loc[idx, "task"]), [ev.estimate({int(i): 1.0}) for i in idx], sel,
                     f"{len(idx)} tasks of {sorted(set(pts.loc[idx, 'group']))}")
    if p.key.startswith("scale_dependence"):
        groups = rich if p.direction > 0 else scarce
        sel = ((pts["paradigm"] == p.paradigm) & pts["group"].isin(groups)).to_numpy()
        return _slope(ev, sel, groups)
    if p.key == "au_over_cg_scarce":
        sel = (pts["group"].isin(scarce).to_numpy() & multi & np.isfinite(pts["delta_s"].to_numpy()))
        d = pts[sel]
        cg = d[d["paradigm"] == "clinical"].set_index("task")
        au = d[d["paradigm"] == "all"].set_index("task")
        tasks = sorted(set(cg.index) & set(au.index))
        if len(tasks) < MIN_TASKS:
            return Tests([], [], sel, why=f"{len(tasks)} data-scarce task(s) with both CG and AU: too few")
        w = {**{int(d.index[(d["paradigm"] == "all") & (d["task"] == t)][0]): 1 / len(tasks) for t in tasks},
             **{int(d.index[(d["paradigm"] == "clinical") & (d["task"] == t)][0]): -1 / len(tasks) for t in tasks}}
        return Tests(["AU − CG"], [ev.estimate(w)], sel, f"{len(tasks)} tasks of {sorted(set(d['group']))}")
    # segmentation drops most: three contrasts over tasks where TS beats the trivial predictor in every seed
    base = (pts["paradigm"] == p.paradigm).to_numpy()
    ok, _ = ts_beats_everywhere(pts, beats)
    sel = base & ok & np.isfinite(pts["delta_s"].to_numpy())
    types = {t: np.flatnonzero(sel & (pts["type"] == t).to_numpy()) for t in ("segmentation", "classification",
                                                                             "regression")}
    if min(len(v) for v in types.values()) == 0:
        return Tests([], [], sel, why=f"{int(base.sum())} tasks, {int(sel.sum())} where TS beats trivial: "
                                      "segmentation, classification and regression tasks are all needed")

    def mean_of(t: str, sign: float) -> dict[int, float]:
        return {int(i): sign / len(types[t]) for i in types[t]}

    seg_down = mean_of("segmentation", -1.0)
    ests = [ev.estimate(seg_down), ev.estimate({**mean_of("classification", 1.0), **seg_down}),
            ev.estimate({**mean_of("regression", 1.0), **seg_down})]
    return Tests(list(CONTRASTS), ests, sel, f"{int(sel.sum())} of {int(base.sum())} tasks (TS beats trivial)")


def _slope(ev: Evidence, sel: np.ndarray, groups: Sequence[str]) -> Tests:
    pts = ev.points
    d = pts[sel & np.isfinite(pts["delta_s"].to_numpy())]
    fr = sorted(d["fraction"].unique())
    if len(fr) < 2:
        return Tests([], [], sel, why=f"{len(fr)} training fraction(s) {[float(f) for f in fr]} of {list(groups)} "
                                      "in the data-scale runs: a slope needs 2")
    per_task = []
    for _, dt in d.groupby("task", sort=True):
        if dt["fraction"].nunique() < 2:
            continue
        x = np.log2(dt["fraction"].to_numpy(float))
        xc = x - x.mean()
        per_task.append(dict(zip(dt.index.astype(int), xc / (xc ** 2).sum())))  # least-squares slope = Σ w Δs
    if len(per_task) < MIN_TASKS:
        return Tests([], [], sel, why=f"{len(per_task)} task(s) of {list(groups)} at 2+ fractions: too few")
    w: dict[int, float] = {}
    for one in per_task:
        for i, v in one.items():
            w[i] = w.get(i, 0.0) + v / len(per_task)
    return Tests(["slope per doubling"], [ev.estimate(w)], sel,
                 f"{len(per_task)} tasks of {list(groups)} at fractions {[float(f) for f in fr]} (data-scale runs)")


# ---- judging a row -----------------------------------------------------------------------------------------------

@dataclass
class Judgement:
    """A row's tests after its family's Holm adjustment: per test the estimate, the Holm-adjusted interval, p and
    p_Holm; :meth:`decide` gives the verdict at any δ."""

    protocol: Protocol
    tests: Tests
    lo: np.ndarray = field(default_factory=lambda: np.zeros(0))
    hi: np.ndarray = field(default_factory=lambda: np.zeros(0))
    p: np.ndarray = field(default_factory=lambda: np.zeros(0))
    p_holm: np.ndarray = field(default_factory=lambda: np.zeros(0))
    level: np.ndarray = field(default_factory=lambda: np.zeros(0))
    m: int = 0

    @property
    def testable(self) -> bool:
        return bool(self.tests.estimates) and min(e.n_seeds for e in self.tests.estimates) >= 2

    def decide(self, delta: float) -> str:
        if not self.testable:
            return "inconclusive"
        d = self.protocol.direction
        if self.protocol.kind == "exists":
            return existential_verdict(self.lo, self.hi, d, delta)
        if self.protocol.kind == "all_of":
            return verdict(float(np.min(self.lo)), float(np.min(self.hi)), d, delta)
        return verdict(float(self.lo[0]), float(self.hi[0]), d, delta)

    def mde(self) -> float:
        """At the family's first Holm step (α/m), the largest over the row's tests: for an existential row the
        effect any one of its tasks would be detected at, for an all-of row the binding contrast's."""
        if not self.tests.estimates:
            return np.nan
        return float(np.nanmax([e.mde(ALPHA / max(self.m, 1)) for e in self.tests.estimates]))

    def shown(self) -> int:
        """The test the row shows: the decisive task of an existential row (the most significant along the claim,
        else the one reaching furthest along it), the binding contrast of an all-of row, else the only test."""
        if len(self.lo) <= 1:
            return 0
        d = self.protocol.direction
        a, b = np.minimum(d * self.lo, d * self.hi), np.maximum(d * self.lo, d * self.hi)
        if self.protocol.kind == "exists":
            return int(np.argmax(a)) if (a > 0).any() else int(np.argmax(b))
        return int(np.argmin(b))


def judge(rows: Sequence[tuple[Protocol, Tests]]) -> list[Judgement]:
    """Holm over each family's tests (every test of every row naming it), then each test's Holm-adjusted interval."""
    out = [Judgement(p, t) for p, t in rows]
    for fam in dict.fromkeys(p.family for p, _ in rows):
        members = [j for j in out if j.protocol.family == fam]
        p = np.concatenate([[e.p() for e in j.tests.estimates] for j in members]) if members else np.zeros(0)
        ph = holm(p)
        lv = holm_levels(p, ph)
        m = int(np.isfinite(p).sum())
        at = 0
        for j in members:
            k = len(j.tests.estimates)
            j.p, j.p_holm, j.level, j.m = p[at:at + k], ph[at:at + k], lv[at:at + k], m
            ci = np.array([_interval(e, lev) for e, lev in zip(j.tests.estimates, j.level)]).reshape(-1, 2)
            j.lo, j.hi = ci[:, 0], ci[:, 1]
            at += k
    return out


def _interval(e: Estimate, level: float) -> tuple[float, float]:
    return e.interval(float(level)) if np.isfinite(level) else e.interval()


def _runs(pts: pd.DataFrame) -> str:
    exps = sorted(pts["experiment"].unique())
    seeds = sorted({int(s) for ss in pts["seeds"] for s in str(ss).split(",")})
    return f"{', '.join(exps)}: {', '.join(sorted(set(pts['comparison'])))}, {pts['task'].nunique()} tasks, seeds {seeds}"


def _fmt_ci(lo: float, hi: float) -> str:
    return f"[{lo:+.3f}, {hi:+.3f}]" if np.isfinite(lo) and np.isfinite(hi) else "[no interval]"


def _row(j: Judgement, pts: pd.DataFrame | None, deltas: Mapping[str, tuple[float, str]], context: str) -> dict:
    p = j.protocol
    study = next(c for c in CLAIMS if c.key == p.study_claim)
    delta, why_delta = deltas[p.key]
    v = j.decide(delta)
    mde = j.mde()
    i = j.shown() if j.tests.estimates else 0
    e = j.tests.estimates[i] if j.tests.estimates else None
    est = e.estimate if e is not None else np.nan
    lo, hi = (float(j.lo[i]), float(j.hi[i])) if e is not None else (np.nan, np.nan)
    if p.kind == "all_of" and e is not None:
        lo, hi, est = float(np.min(j.lo)), float(np.min(j.hi)), float(np.min([x.estimate for x in j.tests.estimates]))
    sub = pts[j.tests.sel] if pts is not None and len(j.tests.sel) and j.tests.sel.any() else None
    ctx = f" ({context})" if context else ""
    if e is None:
        reason = (j.tests.why or f"no runs of the {p.experiment} experiment") + ctx
    elif not j.testable:
        reason = (f"{min(x.n_seeds for x in j.tests.estimates)} seed: the seed variance cannot be estimated, so no "
                  f"verdict (interval over images only: {_fmt_ci(lo, hi)}){ctx}")
    else:
        shown = f"shown: {j.tests.labels[i]} " if len(j.tests.labels) > 1 else ""
        level = float(j.level[i]) if len(j.level) else np.nan
        reason = (f"{shown}{est:+.3f} {_fmt_ci(lo, hi)} at level {level:.4f} (Holm over {j.m} test(s) of the family, "
                  f"df {e.df:.1f}) over {j.tests.what}; δ = {delta:g}, MDE {mde:.3f}")
        if p.kind == "exists":
            a = np.minimum(p.direction * j.lo, p.direction * j.hi)
            b = np.maximum(p.direction * j.lo, p.direction * j.hi)
            reason += (f"; {int((a > 0).sum())} of {len(a)} tasks beyond 0 in the study's direction, "
                       f"{int((b < 0).sum())} the other way")
        if p.kind == "all_of":
            reason += "; contrasts: " + ", ".join(f"{lab} {x.estimate:+.3f} {_fmt_ci(a, b)}" for lab, x, a, b in
                                                  zip(j.tests.labels, j.tests.estimates, j.lo, j.hi))
        reason += ctx
    pi = float(j.p[i]) if e is not None and len(j.p) else np.nan
    phi = float(j.p_holm[i]) if e is not None and len(j.p_holm) else np.nan
    return {"claim": p.key, "grade": study.grade, "experiment": p.experiment, "statistic": p.statistic,
            "estimate": est, "ci_low": lo, "ci_high": hi, "mde": mde, "verdict": v, "delta": delta,
            "delta_reason": why_delta, "family": p.family, "m": j.m,
            "level": float(j.level[i]) if e is not None and len(j.level) else np.nan, "p": pi, "p_holm": phi,
            "df": e.df if e is not None else np.nan, "direction": p.direction,
            "n_tasks": int(sub["task"].nunique()) if sub is not None else 0,
            "runs": _runs(sub) if sub is not None else "none", "reason": reason, "study_says": study.text,
            "rule": p.rule}


def judgements(main: Evidence | None, data_scale: Evidence | None, rich: Sequence[str], scarce: Sequence[str],
               beats: pd.DataFrame | None = None,
               protocol: Sequence[Protocol] = PROTOCOL) -> list[tuple[Judgement, pd.DataFrame | None]]:
    """Every protocol row's tests, judged within its family; with the evidence points it read (None: no runs)."""
    for name, ev in (("main", main), ("data_scale", data_scale)):
        if ev is not None and ev.family != name:
            raise PooledEvidenceError(f"verdict_table: the {name} evidence is of family {ev.family!r}")
    rows, pts = [], []
    for p in protocol:
        ev = main if p.experiment == "main" else data_scale
        rows.append((p, row_tests(p, ev, rich, scarce, beats) if ev is not None
                     else Tests([], [], np.zeros(0, bool), why=f"no runs of the {p.experiment} experiment")))
        pts.append(ev.points if ev is not None else None)
    return list(zip(judge(rows), pts))


def verdict_table(main: Evidence | None, data_scale: Evidence | None, rich: Sequence[str], scarce: Sequence[str],
                  beats: pd.DataFrame | None = None, context: str = "",
                  deltas: Mapping[str, tuple[float, str]] | None = None) -> pd.DataFrame:
    """``verdicts.csv``: one row per protocol entry, each from its own experiment's evidence (missing evidence gives
    ``inconclusive`` with the reason). ``deltas``: δ and its reason per claim (default: ``claim_deltas("default")``)."""
    deltas = deltas or claim_deltas("default")
    return pd.DataFrame([_row(j, pts, deltas, context) for j, pts in
                         judgements(main, data_scale, rich, scarce, beats)])


def sensitivity_table(main: Evidence | None, data_scale: Evidence | None, rich: Sequence[str], scarce: Sequence[str],
                      beats: pd.DataFrame | None = None,
                      deltas: Mapping[str, tuple[float, str]] | None = None) -> pd.DataFrame:
    """``verdict_sensitivity.csv``: each claim's verdict at δ/2, δ and 2δ (claim × multiplier → verdict)."""
    deltas = deltas or claim_deltas("default")
    rows = []
    for j, _ in judgements(main, data_scale, rich, scarce, beats):
        base = deltas[j.protocol.key][0]
        for k in DELTA_MULTIPLIERS:
            rows.append({"claim": j.protocol.key, "delta_multiplier": k, "delta": base * k,
                         "verdict": j.decide(base * k)})
    return pd.DataFrame(rows)


def au_consistency(main: Evidence | None) -> pd.DataFrame:
    """The study's "AU is more consistent across groups" [A], descriptive (not a verdict: a spread over a handful of
    groups): the SD over multi-task clinical groups of the group mean Δs, CG and AU, and their difference with a
    linearised interval from the crossed model (the delta method: SD as a linear combination of the tasks' Δs near
    the estimate). ``au_consistency.csv``."""
    if main is None:
        return pd.DataFrame()
    pts = main.points
    multi = pts.groupby("group")["task"].transform("nunique") > 1
    weights: dict[int, float] = {}
    out = {}
    for par in ("clinical", "all"):
        d = pts[(pts["paradigm"] == par) & multi & np.isfinite(pts["delta_s"])]
        gm = d.groupby("group")["delta_s"].mean()
        if len(gm) < 2:
            return pd.DataFrame()
        sd = float(gm.std(ddof=1))
        out[par] = (sd, len(gm))
        sign = 1.0 if par == "clinical" else -1.0
        for g, v in gm.items():
            idx = d.index[d["group"] == g]
            grad = (v - gm.mean()) / ((len(gm) - 1) * sd) if sd > 0 else 0.0
            for i in idx:
                weights[int(i)] = weights.get(int(i), 0.0) + sign * grad / len(idx)
    e = main.estimate(weights)
    lo, hi = e.interval()
    est = out["clinical"][0] - out["all"][0]
    return pd.DataFrame([{"claim": "au_consistent", "statistic": "SD over multi-task clinical groups of the group "
                          "mean Δs, CG minus AU (> 0: AU more consistent)", "sd_cg": out["clinical"][0],
                          "sd_au": out["all"][0], "n_groups": out["clinical"][1], "estimate": est,
                          "ci_low": est + (lo - e.estimate), "ci_high": est + (hi - e.estimate),
                          "interval": "linearised (delta method), crossed seed × image model; descriptive only",
                          "n_seeds": e.n_seeds}])


VERDICTS_COLUMNS = ["claim", "grade", "experiment", "statistic", "estimate", "ci_low", "ci_high", "mde", "verdict",
                    "delta", "delta_reason", "family", "df"]
