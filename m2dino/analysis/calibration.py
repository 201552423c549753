"""Simulation-based calibration of the inference: results with known true effects (``m2dino.analysis.simulate``) go
through the analysis's own path from the tidy table on (``tables.headroom_evidence`` → ``delta_s.task_table`` /
``aggregate`` → ``verdicts.judgements``; the first replicates of each design through run folders written to disk and
read back by ``tidy_results`` / ``read_per_image``), and the figures say whether intervals cover, tests hold their
error rate, the printed MDE has its power and each claim rule can come out both ways (``python -m m2dino
calibrate``; docs/analysis.md, "Calibration").

Worlds, per variance regime and number of seeds K:
- **null**: no effect anywhere. Coverage of the 95% intervals of a per-task Δs, a group mean and a slope (per task
  and the claims' mean slopes), the type-I error of the per-task test at 5%, the family-wise error rate over each
  Holm family of tasks (one comparison: experiment × paradigm), and each claim's share of ``equivalent``.
- **power**: every Dice, IoU and MRE task of the main experiment at its design MDE (what the machinery prints, from
  the null world's mean variance terms with Satterthwaite's degrees of freedom); the power is the share of per-task
  tests with p below Holm's first-step level α/m, the level that MDE is stated at. (AUC tasks stay at 0: an AUC's
  variance moves with its level, and its MDE is stated at the null's.)
- **holds / fails**: per claim, only the runs it reads, with the claim true by 2 × its design MDE, or false by as
  much the other way. δ in every claim world is 2 × the row's design MDE: the smallest margin at which this design
  can show equivalence, so that agree, disagree and equivalent are all reachable. (With the config's δ an equivalence
  can be beyond the design's reach; the rule then says inconclusive, as it should.)

Monte-Carlo standard errors come from the replicates (each replicate's share, then SD / √R), so events that share
seeds within a replicate are not counted as independent.
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from m2dino.analysis.delta_s import Evidence, aggregate, task_table
from m2dino.analysis.inference import ALPHA, LEVEL, mde, satterthwaite
from m2dino.analysis.simulate import PROFILE, Design, Regime, Simulated, no_effect, replicate_seed, simulate
from m2dino.analysis.verdicts import PROTOCOL, Judgement, judgements
from m2dino.paths import RESULTS
from m2dino.runs import MAIN
from m2dino.registry import all_tasks, get_task

BOUNDS = {"coverage": (0.93, 0.97), "type_i": (0.0, 0.06), "fwer": (0.0, 0.06), "power": (0.70, 0.90),
          "agree_when_holds": (0.8, 1.0), "disagree_when_fails": (0.8, 1.0), "equivalent_when_null": (0.8, 1.0)}
OUT_DIR = RESULTS / "calibration"


@dataclass(frozen=True)
class Setup:
    """What to calibrate (``conf/analysis.yaml: calibration``): the design (seeds K, test images, tasks, data-scale
    fractions and groups), the regimes and the replicate counts."""

    ks: tuple[int, ...]
    n_images: int
    tasks: tuple[str, ...]
    fractions: tuple[float, ...]
    scale_groups: tuple[str, ...]
    rich: tuple[str, ...]
    scarce: tuple[str, ...]
    regimes: tuple[Regime, ...]
    replicates: int
    power_replicates: int
    claim_replicates: int
    disk_replicates: int
    beats_n_boot: int
    workers: int = 1
    slack_se: float = 0.0  # bounds widened by this many Monte-Carlo SEs (the small test allows for its own MC error)
    stress: tuple[str, ...] = ()  # regimes reported beside the bounds but not held to them (an assumption's limit)
    candidates: bool = False  # also score the rejected candidates (:func:`candidate_intervals`) in the null world

    def design(self, k: int, tasks: Sequence[str] | None = None,
               paradigms: Sequence[str] = ("single", "clinical", "all"), main: bool = True,
               data_scale: bool = True) -> Design:
        """The study's runs at K seeds over ``tasks`` (default all of the setup's): the main experiment unless
        ``main=False``, the data-scale fractions of the scale groups' tasks (TS and CG) unless ``data_scale=False``."""
        ids = tuple(t for t in self.tasks if tasks is None or t in tasks)
        ds = tuple(t for t in ids if get_task(t).group in self.scale_groups)
        d = Design.study(k, self.n_images, {f: ds for f in self.fractions} if data_scale and ds else None, ids,
                         paradigms)
        return d if main else Design(d.seeds, d.n_images, {e: v for e, v in d.experiments.items() if e != MAIN})


# ---- one replicate through the real path ----------------------------------------------------------------------

def analyse(sim: Simulated, setup: Setup, disk: Path | None = None) -> tuple[dict[str, Evidence], pd.DataFrame | None]:
    """The analysis's evidence and beats-trivial table of one replicate, from memory or (``disk``, a folder named
    ``simulation``) from run folders written there and read back through ``tidy_results`` and ``read_per_image``."""
    from m2dino.analysis.tables import headroom_evidence
    from m2dino.analysis.tidy import read_per_image, tidy_results

    if disk is not None:
        return headroom_evidence(tidy_results(sim.write(disk)), n_boot=setup.beats_n_boot, reader=read_per_image)
    return headroom_evidence(sim.tidy, n_boot=setup.beats_n_boot, reader=sim.reader)


def _covers(lo: float, hi: float, truth: float) -> float:
    return float(lo <= truth <= hi) if np.isfinite(lo) and np.isfinite(hi) and np.isfinite(truth) else np.nan


def slope_weights(pts: pd.DataFrame, sel: np.ndarray) -> list[tuple[str, dict[int, float]]]:
    """Per task of ``sel`` at 2+ fractions: its least-squares slope of Δs on log2(fraction), as row weights (the same
    weights the scale-dependence claim averages)."""
    out = []
    for task, dt in pts[sel & np.isfinite(pts["delta_s"].to_numpy())].groupby("task", sort=True):
        if dt["fraction"].nunique() < 2:
            continue
        x = np.log2(dt["fraction"].to_numpy(float))
        xc = x - x.mean()
        out.append((str(task), dict(zip(dt.index.astype(int), xc / (xc ** 2).sum()))))
    return out


@dataclass
class Record:
    """One replicate's contribution: per figure a list of 0/1 events, the variance terms of each estimate (for the
    design MDE), the judged claim rows."""

    events: dict[str, list[float]] = field(default_factory=dict)
    terms: dict[str, tuple] = field(default_factory=dict)
    claims: dict[str, Judgement] = field(default_factory=dict)

    def add(self, name: str, value: float) -> None:
        self.events.setdefault(name, []).append(value)


Job = tuple[str, Regime, int, int, Setup, Callable, Design, bool, dict]


def one_replicate(job: Job) -> Record:
    """``(world, regime, K, replicate, setup, effects, design, through_disk, power_targets)``: simulate, analyse,
    and score against the truth."""
    world, regime, k, r, setup, effects, design, disk, targets = job
    sim = simulate(design, regime, effects, seed=replicate_seed(world, regime.name, k, r))
    if disk:
        with tempfile.TemporaryDirectory() as tmp:
            evidence, beats = analyse(sim, setup, Path(tmp) / PROFILE)
    else:
        evidence, beats = analyse(sim, setup)
    truth = {(x.experiment, x.paradigm, x.task): x.delta_true for x in sim.truth.itertuples()}
    rec = Record()
    for fam, ev in evidence.items():
        tab = task_table(ev, beats)
        for (exp, par), d in tab.groupby(["experiment", "paradigm"], sort=False):
            m = max(int(np.isfinite(d["p"]).sum()), 1)
            rec.add("fwer|task", float((d["p_holm"] < ALPHA).any()))
            for i, row in d.iterrows():
                key = (exp, par, row["task"])
                rec.terms["task|" + "|".join(key)] = ev.estimate({int(i): 1.0}).terms
                rec.add("coverage|task", _covers(row["ci_low"], row["ci_high"], truth[key]))
                if setup.candidates and ev.rows[int(i)].x is not None:
                    for name, (lo, hi) in candidate_intervals(ev.rows[int(i)], row["delta_s"],
                                                              replicate_seed(world, k, r, *key)).items():
                        rec.add(f"candidate|{name}", _covers(lo, hi, truth[key]))
                rec.add("type_i|task", float(row["p"] < ALPHA))
                if targets and key in targets and np.isclose(truth[key], targets[key]):
                    rec.add("power|task", float(row["p"] < ALPHA / m))
        pts = ev.points
        if fam == MAIN:
            for g in aggregate(ev, "group").itertuples():
                rows = pts[(pts["paradigm"] == g.paradigm) & (pts["group"] == g.group)]
                t = float(np.mean([truth[(x.experiment, x.paradigm, x.task)] for x in rows.itertuples()]))
                rec.add("coverage|group mean", _covers(g.ci_low, g.ci_high, t))
        else:
            for par in sorted(set(pts["paradigm"])):
                for task, w in slope_weights(pts, (pts["paradigm"] == par).to_numpy()):
                    t = sum(v * truth[(pts.loc[i, "experiment"], par, task)] for i, v in w.items())
                    rec.add("coverage|slope", _covers(*ev.estimate(w).interval(LEVEL), t))
    for j, pts in judgements(evidence.get(MAIN), evidence.get("data_scale"), setup.rich, setup.scarce, beats):
        if not j.tests.estimates:
            continue
        rec.claims[j.protocol.key] = j
        for lab, e in zip(j.tests.labels, j.tests.estimates):
            rec.terms[f"claim|{j.protocol.key}|{lab}"] = e.terms
        if j.protocol.key.startswith("scale_dependence"):  # the claim's mean slope, its 95% interval
            per = slope_weights(pts, j.tests.sel)
            t = sum(v * truth[(pts.loc[i, "experiment"], pts.loc[i, "paradigm"], pts.loc[i, "task"])] / len(per)
                    for _, w in per for i, v in w.items())
            rec.add("coverage|slope", _covers(*j.tests.estimates[0].interval(LEVEL), t))
    return rec


def candidate_intervals(row, estimate: float, seed: int, n_boot: int = 200) -> dict[str, tuple[float, float]]:
    """The 95% intervals of one task's Δs that the calibration rejected, on the same pseudo-values: the two-stage
    bootstrap the analysis used before (seeds with replacement, an image resample per drawn seed, percentiles); the t
    interval
    over the K seed means (the textbook fix alone); the two-way ("pigeonhole") bootstrap, seeds and images resampled
    independently, with a t quantile on K − 1 degrees of freedom (a small-sample correction of the seed level) or a
    normal one. The analysis uses none of them (docs/analysis.md, "Why this estimator")."""
    from scipy.stats import t as t_dist

    x = row.x[:, np.isfinite(row.x).all(0)]
    k, n = x.shape
    means = np.asarray(row.points, dtype=float)
    se_seed = float(np.std(means, ddof=1) / np.sqrt(k))
    rng = np.random.default_rng(seed)
    ws = rng.multinomial(k, np.full(k, 1.0 / k), size=n_boot).astype(float)  # seeds drawn, as counts
    wi = rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(float)  # images drawn, independently
    reps = ((ws @ x) * wi).sum(1) / (k * n)
    se_pig = float(np.std(reps, ddof=1))
    tq = float(t_dist.ppf(0.975, k - 1))
    # the old two-stage bootstrap: K seeds drawn with replacement, each drawn slot its own image resample, percentile
    slots = rng.integers(0, k, (n_boot, k))
    counts = rng.multinomial(n, np.full(n, 1.0 / n), size=(n_boot, k)).astype(float)
    old = (x[slots] * counts).sum(2).mean(1) / n
    old_lo, old_hi = np.percentile(old, [2.5, 97.5])
    return {"two-stage bootstrap (the code before #23)": (float(old_lo), float(old_hi)),
            "seed-means t": (estimate - tq * se_seed, estimate + tq * se_seed),
            "pigeonhole, t(K-1)": (estimate - tq * se_pig, estimate + tq * se_pig),
            "pigeonhole, normal": (estimate - 1.96 * se_pig, estimate + 1.96 * se_pig)}


def run_world(jobs: list[Job], workers: int) -> list[Record]:
    if workers <= 1 or len(jobs) < 2 * workers:
        return [one_replicate(j) for j in jobs]
    with ProcessPoolExecutor(workers) as pool:
        return list(pool.map(one_replicate, jobs, chunksize=max(1, len(jobs) // (8 * workers))))


# ---- figures -------------------------------------------------------------------------------------------------------

def share(records: list[Record], name: str) -> tuple[float, float, int]:
    """(mean over replicates of each replicate's share of events, its Monte-Carlo SE, replicates with an event)."""
    per = np.array([np.nanmean(r.events[name]) for r in records if name in r.events and
                    np.isfinite(r.events[name]).any()])
    if per.size == 0:
        return np.nan, np.nan, 0
    se = float(per.std(ddof=1) / np.sqrt(per.size)) if per.size > 1 else np.nan
    return float(per.mean()), se, int(per.size)


def design_mde(records: list[Record], key: str, alpha: float) -> float:
    """The MDE the machinery prints in a typical draw: the median over the null replicates of each draw's MDE at
    ``alpha`` (its variance terms, Satterthwaite's degrees of freedom: what :meth:`Estimate.mde` prints). A median of
    draws, not the MDE of averaged terms: the seed term's degrees of freedom differ between draws (moderated or the
    estimate's own, ``inference.SeedPrior.moderate``)."""
    got = [r.terms[key] for r in records if key in r.terms and r.terms[key]]
    if not got:
        return np.nan
    return float(np.nanmedian([mde(float(np.sqrt(v)), df, alpha) for v, df in map(satterthwaite, got)]))


def claim_mdes(records: list[Record]) -> dict[str, tuple[float, dict[str, float]]]:
    """Per claim row: its design MDE (as :meth:`Judgement.mde` takes it) and each test's."""
    out = {}
    for p in PROTOCOL:
        js = [r.claims[p.key] for r in records if p.key in r.claims]
        if not js:
            continue
        j = js[0]
        per = {lab: design_mde(records, f"claim|{p.key}|{lab}", ALPHA / max(j.m, 1)) for lab in j.tests.labels}
        out[p.key] = (float(np.nanmax(list(per.values()))), per)  # as Judgement.mde: the largest of its tests
    return out


def _figure(rows: list, regime: str, k: int, name: str, what: str, got: tuple[float, float, int], slack: float,
            binding: bool = True) -> None:
    """One figure with its bound (widened by ``slack`` Monte-Carlo SEs); ``binding=False``: reported, not a bound
    the machinery must meet (a rejected candidate)."""
    lo, hi = BOUNDS[name]
    v, se, n = got
    s = slack * se if np.isfinite(se) else 0.0
    ok = bool(np.isfinite(v) and lo - s <= v <= hi + s)
    rows.append({"regime": regime, "k": k, "figure": name, "what": what, "value": v, "mc_se": se, "replicates": n,
                 "bound_low": lo - s, "bound_high": hi + s, "ok": ok, "binding": binding})


# ---- worlds --------------------------------------------------------------------------------------------------------

def _carriers(tasks: Sequence[str]) -> list[str]:
    """The tasks that carry an effect in a claim world: Dice, IoU and MRE tasks, whose simulated effect is any
    value (an AUC task's is bounded, a multi-class one's 0), so that a claim's true value is exactly what is asked."""
    return [t for t in tasks if get_task(t).primary_metric != "auc"]


def claim_worlds(setup: Setup, k: int, mdes: dict[str, tuple[float, dict[str, float]]]
                 ) -> list[tuple[str, tuple[str, ...], Callable, Callable, Design]]:
    """(name, rows it checks, effects when the claim holds, effects when it fails, design): one world per claim
    (the two scale rows share one, as do the two segmentation rows), each with only the runs it reads. The claim's
    true value is 2 × its design MDE (the same MDE that sets δ = 2 × MDE): carried by the tasks whose effect the
    simulation can set freely (:func:`_carriers`), scaled so that the row's statistic is exactly that."""
    multi = {g for g, n in pd.Series([t.group for t in all_tasks() if t.id in setup.tasks]).value_counts().items()
             if n > 1}
    rich_t = [t.id for t in all_tasks() if t.group in setup.rich and t.group in multi and t.id in setup.tasks]
    scarce_t = [t.id for t in all_tasks() if t.group in setup.scarce and t.group in multi and t.id in setup.tasks]
    v = {key: 2 * m for key, (m, _) in mdes.items()}
    worlds = []
    if {"scale_dependence_rich", "scale_dependence_scarce"} <= set(v):
        centre = float(np.mean(np.log2(setup.fractions)))
        slope = {}
        for row, tasks in (("scale_dependence_rich", rich_t), ("scale_dependence_scarce", scarce_t)):
            direction = next(p.direction for p in PROTOCOL if p.key == row)
            carry = _carriers(tasks)
            for t in carry:  # the mean over the group's tasks of their slopes: direction × 2 MDE
                slope[t] = direction * v[row] * len(tasks) / len(carry)

        def scale(sign: float) -> Callable:
            def eff(exp: str, par: str, task: str) -> float:
                frac = float(exp.split("frac", 1)[1]) if "frac" in exp else 1.0
                return sign * slope.get(task, 0.0) * (np.log2(frac) - centre) if par == "clinical" else 0.0
            return eff
        worlds.append(("scale_dependence", ("scale_dependence_rich", "scale_dependence_scarce"), scale(1.0),
                       scale(-1.0), setup.design(k, rich_t + scarce_t, ("single", "clinical"), main=False)))
    for key, tasks in (("cg_scarce_negative", scarce_t), ("cg_rich_gain", rich_t)):
        if key not in v:
            continue
        d = next(p.direction for p in PROTOCOL if p.key == key)
        best = min(_carriers(tasks) or tasks, key=lambda t: mdes[key][1].get(t, np.inf))  # one task carries it

        def holds(exp, par, task, key=key, d=d, best=best):
            return d * v[key] if par == "clinical" and task == best else 0.0

        def fails(exp, par, task, key=key, d=d):
            return -d * v[key] if par == "clinical" else 0.0
        worlds.append((key, (key,), holds, fails, setup.design(k, tasks, ("single", "clinical"), data_scale=False)))
    if "au_over_cg_scarce" in v:
        carry = _carriers(scarce_t)
        a = v["au_over_cg_scarce"] * len(scarce_t) / max(len(carry), 1)
        worlds.append(("au_over_cg_scarce", ("au_over_cg_scarce",),
                       lambda exp, par, task: a if par == "all" and task in carry else 0.0,
                       lambda exp, par, task: -a if par == "all" and task in carry else 0.0,
                       setup.design(k, scarce_t, data_scale=False)))
    seg = [key for key in ("segmentation_drops_most_cg", "segmentation_drops_most_au") if key in v]
    if seg:
        size = {"clinical": v.get("segmentation_drops_most_cg", 0.0), "all": v.get("segmentation_drops_most_au", 0.0)}

        def seg_eff(sign: float) -> Callable:
            return lambda exp, par, task: -sign * size.get(par, 0.0) if get_task(task).type == "segmentation" else 0.0
        worlds.append(("segmentation_drops_most", tuple(seg), seg_eff(1.0), seg_eff(-1.0),
                       setup.design(k, data_scale=False)))
    return worlds


def calibrate_cell(setup: Setup, regime: Regime, k: int, log: Callable[[str], None] = print) -> list[dict]:
    """Every figure of one design (regime, K)."""
    rows: list[dict] = []
    slack = setup.slack_se
    t0 = time.time()
    full = setup.design(k)
    null_jobs = [("null", regime, k, r, setup, no_effect, full, r < setup.disk_replicates, {})
                 for r in range(setup.replicates)]
    null = run_world(null_jobs, setup.workers)
    for name in ("coverage|task", "coverage|group mean", "coverage|slope", "type_i|task", "fwer|task"):
        fig, what = name.split("|")
        _figure(rows, regime.name, k, fig, what, share(null, name), slack)
    for name in sorted({n for r in null for n in r.events if n.startswith("candidate|")}):
        _figure(rows, regime.name, k, "coverage", f"task, rejected candidate: {name.split('|')[1]}",
                share(null, name), slack, binding=False)
    # design MDEs, then the power world (main experiment only)
    targets = {}
    for key in sorted({kk for r in null for kk in r.terms if kk.startswith(f"task|{MAIN}|")}):
        _, exp, par, task = key.split("|")
        if not _carriers([task]):  # an AUC's variance moves with its level: its MDE is stated at the null's
            continue
        m = sum(1 for kk in null[0].terms if kk.startswith(f"task|{exp}|{par}|"))
        targets[(exp, par, task)] = -design_mde(null, key, ALPHA / max(m, 1))
    power_design = setup.design(k, data_scale=False)
    power_jobs = [("power", regime, k, r, setup, _Targets(targets), power_design, False, targets)
                  for r in range(setup.power_replicates)]
    power = run_world(power_jobs, setup.workers)
    _figure(rows, regime.name, k, "power", "task", share(power, "power|task"), slack)
    # claims: equivalent under the null, agree when the claim holds, disagree when it fails, all at δ = 2 × MDE
    mdes = claim_mdes(null)
    for key, (m, _) in mdes.items():
        rec = [Record(events={"e": [float(r.claims[key].decide(2 * m) == "equivalent")]}) for r in null
               if key in r.claims]
        _figure(rows, regime.name, k, "equivalent_when_null", key, share(rec, "e"), slack)
    for world, keys, holds, fails, design in claim_worlds(setup, k, mdes):
        for label, eff, want, fig in (("holds", holds, "agree", "agree_when_holds"),
                                      ("fails", fails, "disagree", "disagree_when_fails")):
            effects = _Targets({(e, p, t): float(eff(e, p, t)) for e, (ps, ts) in design.experiments.items()
                                for p in ps for t in ts})
            jobs = [(f"{world}/{label}", regime, k, r, setup, effects, design, False, {})
                    for r in range(setup.claim_replicates)]
            recs = run_world(jobs, setup.workers)
            for key in keys:
                got = [Record(events={"x": [float(r.claims[key].decide(2 * mdes[key][0]) == want)]}) for r in recs
                       if key in r.claims]
                _figure(rows, regime.name, k, fig, key, share(got, "x"), slack)
    log(f"calibrate: {regime.name} K={k} done in {time.time() - t0:.0f} s")
    if regime.name in setup.stress:  # reported, not a bound: where the inference's assumption stops holding
        rows = [{**r, "binding": False} for r in rows]
    return rows


class _Targets:
    """The true effects of a world as a table (experiment, paradigm, task) -> Δs: picklable, for the worker
    processes."""

    def __init__(self, targets: dict):
        self.targets = targets

    def __call__(self, exp: str, par: str, task: str) -> float:
        return self.targets.get((exp, par, task), 0.0)


def calibrate(setup: Setup, log: Callable[[str], None] = print) -> pd.DataFrame:
    """Every figure of every regime and K, with Monte-Carlo SEs and whether it meets its bound."""
    rows = []
    for regime in setup.regimes:
        for k in setup.ks:
            rows += calibrate_cell(setup, regime, k, log)
    return pd.DataFrame(rows)


# ---- setup from the config, and the written summary ------------------------------------------------------------

def demo_regime(base: Regime, tables_dir: Path = RESULTS / "demo" / "tables") -> tuple[Regime, str]:
    """The regime estimated from the latest demo run's ``delta_s_task.csv`` (its CG-vs-TS rows' variance components,
    task by task), or ``base`` from the config when there is none; and where it came from."""
    path = Path(tables_dir) / "delta_s_task.csv"
    if path.exists():
        d = pd.read_csv(path)
        need = {"experiment", "paradigm", "task", "var_seed", "var_image", "var_resid"}
        if need <= set(d.columns):
            d = d[(d["experiment"] == MAIN) & (d["paradigm"] == "clinical")].dropna(subset=list(need - {"task"}))
            if len(d):
                per = {r.task: tuple(float(np.sqrt(max(v, 0.0))) for v in (r.var_seed, r.var_image, r.var_resid))
                       for r in d.itertuples()}
                med = np.median(np.array(list(per.values())), axis=0)
                return (Regime(base.name, *map(float, med), base.unit_share, per),
                        f"estimated task by task from {path} ({len(per)} tasks; medians seed SD {med[0]:.4f}, image "
                        f"SD {med[1]:.4f}, interaction SD {med[2]:.4f})")
    return base, f"from conf/analysis.yaml (no {path} with variance components)"


def tasks_of(opts: dict) -> tuple[str, ...]:
    return tuple(opts["tasks"]) if opts.get("tasks") else tuple(t.id for t in all_tasks())


def spread_seed_sd(base: Regime, spread: float, tasks: Sequence[str]) -> Regime:
    """``base`` with task-specific seed SDs from seed_sd / spread to seed_sd × spread, log-evenly spaced over the
    tasks in an order fixed by their names' checksums (unrelated to group, type or metric): a world where no two
    tasks' seed variances are alike, which a prior pooled over tasks must not mistake for one common variance."""
    order = sorted(tasks, key=lambda t: replicate_seed("spread", t))
    u = np.linspace(-1.0, 1.0, len(order)) if len(order) > 1 else np.zeros(1)
    per = {t: (float(base.seed_sd * spread ** ui), base.image_sd, base.resid_sd) for t, ui in zip(order, u)}
    return Regime(base.name, base.seed_sd, base.image_sd, base.resid_sd, base.unit_share, per)


def setup_from_config(small: bool = False, workers: int | None = None, replicates: int | None = None,
                      ks: Sequence[int] | None = None) -> tuple[Setup, str]:
    """The :class:`Setup` of ``conf/analysis.yaml: calibration`` (its ``small`` block for ``small=True``), on the demo
    profile's design (data-scale fractions and groups, data-rich and data-scarce groups); ``replicates`` and ``ks``
    replace the config's (every world's replicates; the seed counts)."""
    from m2dino.analysis.settings import settings

    demo = settings("demo")
    c = demo.calibration
    opts = dict(c)
    if small:
        opts.update(dict(c.small))
    regimes, source = [], ""
    for name, r in dict(opts["regimes"]).items():
        reg = Regime(str(name), float(r["seed_sd"]), float(r["image_sd"]), float(r["resid_sd"]),
                     float(opts["unit_share"]))
        if r.get("seed_sd_spread"):
            reg = spread_seed_sd(reg, float(r["seed_sd_spread"]), tasks_of(opts))
        if name == "demo" and not small:  # the small test is the same on every machine: the config's split only
            reg, source = demo_regime(reg)
        elif name == "demo":
            source = "from conf/analysis.yaml (the small version never reads a demo run's tables)"
        regimes.append(reg)
    tasks = tasks_of(opts)
    n_workers = workers if workers is not None else (opts.get("workers") or os.cpu_count() or 1)
    reps = int(replicates) if replicates else None
    return Setup(ks=tuple(int(x) for x in (ks or opts["ks"])), n_images=int(opts["n_images"]), tasks=tasks,
                 fractions=tuple(float(f) for f in demo.data_scale_fractions),
                 scale_groups=tuple(demo.data_scale_groups), rich=tuple(demo.data_rich_groups),
                 scarce=tuple(demo.data_scarce_groups), regimes=tuple(regimes),
                 replicates=reps or int(opts["replicates"]), power_replicates=reps or int(opts["power_replicates"]),
                 claim_replicates=reps or int(opts["claim_replicates"]), disk_replicates=int(opts["disk_replicates"]),
                 beats_n_boot=int(opts["beats_n_boot"]), workers=int(n_workers),
                 slack_se=float(opts.get("slack_se") or 0.0), candidates=bool(opts.get("candidates")),
                 stress=tuple(str(n) for n, r in dict(opts["regimes"]).items() if r.get("stress"))), source


def markdown(figures: pd.DataFrame) -> str:
    """The readable table: one line per figure, value ± MC SE, bound, ok."""
    out = ["| regime | K | figure | of | value | MC SE | replicates | bound | ok |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in figures.itertuples():
        why = "rejected candidate" if "candidate" in r.what else "stress world, not a bound"
        ok = ("yes" if r.ok else "**NO**") if r.binding else ("meets it" if r.ok else f"fails it ({why})")
        out.append(f"| {r.regime} | {r.k} | {r.figure} | {r.what} | {r.value:.3f} | {r.mc_se:.3f} | {r.replicates} | "
                   f"[{r.bound_low:.3f}, {r.bound_high:.3f}] | {ok} |")
    return "\n".join(out) + "\n"


DIGEST = (("coverage", "task"), ("coverage", "group mean"), ("coverage", "slope"), ("type_i", "task"),
          ("fwer", "task"), ("power", "task"))
CLAIM_FIGURES = ("equivalent_when_null", "agree_when_holds", "disagree_when_fails")


def digest(figures: pd.DataFrame) -> str:
    """One line per regime and K: the inference's figures (value ± MC SE, **bold** where a bound is missed) and the
    claim rules' worst share, with how many claim figures meet their bound; stress worlds marked."""
    head = ["regime", "K", "coverage: task", "group mean", "slope", "type-I", "FWER", "power at MDE",
            "claim rules: lowest share", "claim figures ok"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (regime, k), d in figures[~figures["what"].str.contains("candidate")].groupby(["regime", "k"], sort=False):
        cells = []
        for fig, what in DIGEST:
            r = d[(d["figure"] == fig) & (d["what"] == what)]
            if r.empty:
                cells.append("")
                continue
            r = r.iloc[0]
            v = f"{r.value:.3f} ± {r.mc_se:.3f}"
            cells.append(v if r.ok else f"**{v}**")
        c = d[d["figure"].isin(CLAIM_FIGURES)]
        low = c.loc[c["value"].idxmin()] if len(c) else None
        cells.append(f"{low.value:.2f} ({low.figure}, {low.what})" if low is not None else "")
        cells.append(f"{int(c['ok'].sum())} of {len(c)}")
        name = regime if bool(d["binding"].all()) else f"{regime} (stress world, not a bound)"
        out.append(f"| {name} | {k} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def write_summary(figures: pd.DataFrame, setup: Setup, meta: dict, out_dir: Path = OUT_DIR) -> Path:
    """``summary.json`` (figures, setup, run facts), ``summary.csv`` and ``summary.md`` under ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    regimes = [{"name": r.name, "seed_sd": r.seed_sd, "image_sd": r.image_sd, "resid_sd": r.resid_sd,
                "unit_share": r.unit_share, "per_task": bool(r.per_task)} for r in setup.regimes]
    doc = {"all_ok": bool(figures.loc[figures["binding"], "ok"].all()), **meta, "ks": list(setup.ks),
           "n_images": setup.n_images, "n_tasks": len(setup.tasks), "fractions": list(setup.fractions), "regimes": regimes,
           "replicates": {"null": setup.replicates, "power": setup.power_replicates, "claims": setup.claim_replicates,
                          "through_disk": setup.disk_replicates},
           "figures": json.loads(figures.to_json(orient="records"))}
    (out_dir / "summary.json").write_text(json.dumps(doc, indent=1, ensure_ascii=False))
    figures.round(4).to_csv(out_dir / "summary.csv", index=False)
    (out_dir / "summary.md").write_text(digest(figures) + "\n" + markdown(figures))
    return out_dir / "summary.json"
