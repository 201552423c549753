"""Δs = s_paradigm - s_TS per task, with two-stage (seed, then test image) bootstrap intervals, per-task p-values with
Holm's correction, and Δs per group, per type and over all tasks (Δm on the headroom scale).

s is the headroom score of ``m2dino.metrics.headroom`` (0 = the trivial predictor, 1 = perfect), so Δs never divides
by a model's own score. Per seed k, s_TS,k and s_paradigm,k use that seed's trivial predictor (the TS run's
``per_image_trivial.csv`` / its ``trivial`` rows in ``metrics.csv``); the point Δs is the mean over seeds.

Two-stage bootstrap (``m2dino.metrics.bootstrap.seed_draws`` / ``two_stage_combine``): each replicate draws K seeds
with replacement, then for each drawn seed an independent resample of that task's test images, the SAME images for
TS, CG, AU and the trivial predictor (paired). The seed draws are shared by every task and paradigm of an experiment
family, and the image draws of a task and seed are the same in every experiment of the family: a CG or AU model is
one unit whose tasks are not independent, and the seed (one trained model per unit) is the independent level. Group,
type and all-task intervals are therefore means over tasks of jointly drawn replicates; the tasks themselves are
fixed (the claims are about these 27 tasks, not a population of tasks).

An experiment *family* is ``main`` or ``data_scale`` (all ``data_scale/frac*`` experiments). Families are never
pooled: :func:`two_stage` builds one at a time and refuses anything else (:class:`PooledEvidenceError`).
"""
from __future__ import annotations

import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import norm

from m2dino.analysis.change import PARADIGM_LABEL, REF_PARADIGM
from m2dino.metrics.headroom import task_headroom
from m2dino.analysis.tidy import PER_IMAGE_TRIVIAL, TRIVIAL, primary_table, read_per_image
from m2dino.metrics.bootstrap import (beats_trivial, draw_counts, paired_resamples, relative, seed_draws,
                                      two_stage_combine)
from m2dino.registry import get_task

FAMILIES = ("main", "data_scale")
ALPHA = 0.05
POWER = 0.8
MDE_FACTOR = float(norm.ppf(1 - ALPHA / 2) + norm.ppf(POWER))  # 2.80: a two-sided 5% test with 80% power


class PooledEvidenceError(ValueError):
    """Evidence from the main and the data-scale experiments was mixed: each claim reads one experiment."""


def family_of(experiment: str) -> str:
    """``main``, ``data_scale`` (for ``data_scale/frac<f>``) or the experiment's own name."""
    return "data_scale" if str(experiment).startswith("data_scale/") else str(experiment)


def fraction_of(experiment: str) -> float:
    """Training fraction of an experiment: 1.0 for main, f for ``data_scale/frac<f>``."""
    return float(str(experiment).split("frac", 1)[1]) if "frac" in str(experiment) else 1.0


@dataclass
class TwoStage:
    """Δs of every (experiment, paradigm, task) of one family: ``points`` (one row each) and ``reps`` [rows, n_boot],
    the two-stage bootstrap replicates of ``delta_s`` in the same row order (all NaN without a bootstrap). Rows share
    seed draws, so any mean or difference of rows can be resampled by combining their replicates."""

    family: str
    points: pd.DataFrame
    reps: np.ndarray
    n_boot: int

    def select(self, mask: pd.Series | np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
        m = np.asarray(mask, dtype=bool)
        return self.points[m].reset_index(drop=True), self.reps[m]


def _task_seed(task: str, seed: int, base: int) -> int:
    return zlib.crc32(f"{task}/seed{seed}".encode()) ^ base


def two_stage(tidy: pd.DataFrame, family: str, paradigms: tuple[str, ...] = ("clinical", "all"), n_boot: int = 1000,
              seed: int = 0, bootstrap: bool = True) -> TwoStage:
    """Δs of each paradigm against TS for every task of one experiment family, with two-stage replicates."""
    if not isinstance(family, str) or family not in FAMILIES:
        raise PooledEvidenceError(f"family must be one of {FAMILIES} (never both pooled), got {family!r}")
    prim = primary_table(tidy)
    exps = sorted(e for e in prim["experiment"].unique() if family_of(e) == family)
    if not exps:
        raise ValueError(f"no runs of the {family} experiment")
    rows, reps = [], []
    nan_reps = np.full(n_boot, np.nan)
    for exp in exps:
        pe = prim[prim["experiment"] == exp]
        present = [p for p in paradigms if (pe["paradigm"] == p).any()]
        for task in sorted(pe.loc[pe["paradigm"] == REF_PARADIGM, "task"].unique()):
            by = {p: pe[(pe["paradigm"] == p) & (pe["task"] == task)].set_index("seed")
                  for p in (REF_PARADIGM, TRIVIAL, *present)}
            cache: dict[tuple[int, int], dict[str, np.ndarray]] = {}
            for p in present:
                seeds = sorted(set(by[REF_PARADIGM].index) & set(by[p].index) & set(by[TRIVIAL].index))
                if not seeds:
                    continue
                rows.append(_point_row(exp, p, task, seeds, by))
                if not bootstrap:
                    reps.append(nan_reps)
                    continue
                k = len(seeds)
                per_seed = np.empty((k, n_boot, k))
                for j, s in enumerate(seeds):
                    if (s, k) not in cache:
                        cache[s, k] = _resampled(task, s, k, n_boot, seed, by, present)
                    r = cache[s, k]
                    per_seed[j] = (task_headroom(task, r[p], r[TRIVIAL])
                                   - task_headroom(task, r[REF_PARADIGM], r[TRIVIAL])).reshape(n_boot, k)
                reps.append(two_stage_combine(per_seed, seed_draws(k, n_boot, seed)))
    if not rows:
        raise ValueError(f"the {family} experiment has no task with runs of TS and one of {list(paradigms)}")
    return TwoStage(family, pd.DataFrame(rows), np.vstack(reps), n_boot)


def _point_row(exp: str, p: str, task: str, seeds: list[int], by: dict[str, pd.DataFrame]) -> dict:
    t = get_task(task)
    ts, pp, tr = (by[k].loc[seeds, "value"].to_numpy(float) for k in (REF_PARADIGM, p, TRIVIAL))
    s_ts, s_p = task_headroom(task, ts, tr), task_headroom(task, pp, tr)
    d = s_p - s_ts
    rel = relative(pp, ts, t.direction) * 100.0
    return {"experiment": exp, "fraction": fraction_of(exp), "paradigm": p,
            "comparison": f"{PARADIGM_LABEL[p]} vs TS", "task": task, "type": t.type, "group": t.group,
            "unit": str(by[p].loc[seeds[0], "unit"]), "metric": t.primary_metric,
            "seeds": ",".join(str(int(s)) for s in seeds), "n_seeds": len(seeds),
            "ts_value": float(np.mean(ts)), "paradigm_value": float(np.mean(pp)), "trivial_value": float(np.mean(tr)),
            "s_ts": float(np.mean(s_ts)), "s_paradigm": float(np.mean(s_p)), "delta_s": float(np.mean(d)),
            "seed_sd": float(np.std(d, ddof=1)) if len(d) > 1 else 0.0,
            "rel_change_pct": float(np.mean(rel)) if np.isfinite(rel).all() else np.nan,
            "n_train": float(by[p].loc[seeds, "n_train"].mean()), "n_test": float(by[p].loc[seeds, "n_test"].mean()),
            "ts_run_dirs": ";".join(by[REF_PARADIGM].loc[seeds, "run_dir"]),
            "run_dirs": ";".join(by[p].loc[seeds, "run_dir"])}


def _resampled(task: str, s: int, k: int, n_boot: int, seed: int, by: dict[str, pd.DataFrame],
               present: list[str]) -> dict[str, np.ndarray]:
    """Every model's and the trivial predictor's primary metric on n_boot x k resamples of seed s's test images."""
    ts_dir = Path(by[REF_PARADIGM].loc[s, "run_dir"])
    tables = {REF_PARADIGM: read_per_image(ts_dir, task), TRIVIAL: read_per_image(ts_dir, task, PER_IMAGE_TRIVIAL)}
    tables.update({p: read_per_image(Path(by[p].loc[s, "run_dir"]), task) for p in present if s in by[p].index})
    counts = draw_counts(len(tables[REF_PARADIGM]), n_boot * k, _task_seed(task, s, seed))
    return paired_resamples(task, tables, counts)


# ---- summaries ------------------------------------------------------------------------------------------------------

def interval(reps: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of finite replicates (NaN when none)."""
    r = np.asarray(reps, dtype=float)
    r = r[np.isfinite(r)]
    if r.size == 0:
        return np.nan, np.nan
    lo, hi = np.percentile(r, [50 * (1 - level), 100 - 50 * (1 - level)])
    return float(lo), float(hi)


def bootstrap_p(estimate: float, reps: np.ndarray) -> float:
    """Two-sided p-value of "the effect is 0" from the bootstrap's standard error: 2 (1 - Φ(|estimate| / SE)).

    Why not the share of replicates beyond 0: its resolution is 2 / (n_boot + 1), and Holm's first step over 27
    tasks needs p < 0.05 / 27 = 0.0019, out of reach at 1,000 resamples. With SE 0 (every replicate equal), p is 1
    for an estimate of 0 and 0 otherwise; NaN without replicates."""
    se = standard_error(reps)
    if not np.isfinite(se) or not np.isfinite(estimate):
        return np.nan
    if se == 0:
        return 1.0 if estimate == 0 else 0.0
    return float(2 * norm.sf(abs(estimate) / se))


def wald_interval(estimate: float, reps: np.ndarray, level: float) -> tuple[float, float]:
    """estimate ± z SE at ``level``: the interval that excludes 0 exactly when :func:`bootstrap_p` < 1 - level."""
    se = standard_error(reps)
    z = float(norm.ppf(0.5 + level / 2))
    return (estimate - z * se, estimate + z * se) if np.isfinite(se) else (np.nan, np.nan)


def holm(p: np.ndarray | pd.Series) -> np.ndarray:
    """Holm-adjusted p-values (statsmodels ``multipletests(method='holm')``); NaN stays NaN, out of the family."""
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = multipletests(p[ok], alpha=ALPHA, method="holm")[1]
    return out


def standard_error(reps: np.ndarray) -> float:
    r = np.asarray(reps, dtype=float)
    r = r[np.isfinite(r)]
    return float(np.std(r, ddof=1)) if r.size > 1 else np.nan


def task_table(ts: TwoStage, beats: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per experiment, paradigm and task: Δs with its two-stage 95% interval, a two-sided bootstrap p-value,
    Holm's adjustment over the tasks of the comparison (experiment, paradigm), negative/positive transfer (Holm
    p < 0.05 below/above 0), the minimum detectable effect, and the relative change in % as a secondary column only
    where TS beats the trivial predictor in every seed (``beats``: :func:`beats_table`); ``rel_excluded`` says why
    a task has none."""
    out = ts.points.copy()
    ci = np.array([interval(r) for r in ts.reps]).reshape(-1, 2)
    out["ci_low"], out["ci_high"] = ci[:, 0], ci[:, 1]
    out["se"] = [standard_error(r) for r in ts.reps]
    out["mde"] = MDE_FACTOR * out["se"]
    out["p"] = [bootstrap_p(e, r) for e, r in zip(out["delta_s"], ts.reps)]
    out["p_holm"] = np.nan
    for _, idx in out.groupby(["experiment", "paradigm"], sort=False).groups.items():
        out.loc[idx, "p_holm"] = holm(out.loc[idx, "p"])
    sig = out["p_holm"] < ALPHA
    out["negative_transfer"] = sig & (out["delta_s"] < 0)
    out["positive_transfer"] = sig & (out["delta_s"] > 0)
    out["transfer"] = np.where(out["negative_transfer"], "negative",
                               np.where(out["positive_transfer"], "positive",
                                        np.where(out["p_holm"].isna(), "no interval", "neutral")))
    ok, reason = ts_beats_everywhere(out, beats)
    out["ts_beats_trivial"] = ok
    zero = ~np.isfinite(out["rel_change_pct"])
    out["rel_excluded"] = np.where(~ok, reason, np.where(zero, "TS metric 0: relative change undefined", ""))
    out.loc[~ok | zero, "rel_change_pct"] = np.nan
    return out


def ts_beats_everywhere(rows: pd.DataFrame, beats: pd.DataFrame | None) -> tuple[np.ndarray, np.ndarray]:
    """Per row (experiment, task, seeds): whether TS beat the trivial predictor in every seed of the row, and the
    reason where not."""
    if beats is None or beats.empty:
        return np.zeros(len(rows), bool), np.full(len(rows), "no beats-trivial intervals (no bootstrap)", object)
    b = beats.set_index(["experiment", "task", "seed"])["beats"]
    ok, why = [], []
    for r in rows.itertuples():
        seeds = [int(s) for s in str(r.seeds).split(",")]
        got = [b.get((r.experiment, r.task, s)) for s in seeds]
        missing = [s for s, g in zip(seeds, got) if g is None]
        failed = [s for s, g in zip(seeds, got) if g is not None and not bool(g)]
        ok.append(not missing and not failed)
        why.append("" if ok[-1] else (f"TS does not clearly beat the trivial predictor (seeds {failed})" if failed
                                      else f"no beats-trivial interval (seeds {missing})"))
    return np.array(ok, bool), np.array(why, object)


def aggregate(ts: TwoStage, by: str | None) -> pd.DataFrame:
    """Mean Δs over tasks per experiment, paradigm and ``by`` (``group``, ``type``, or None for all tasks: Δm on the
    headroom scale), with the two-stage 95% interval of the mean (jointly drawn replicates, see the module notes)."""
    keys = ["experiment", "fraction", "paradigm", "comparison"] + ([by] if by else [])
    out = []
    for key, d in ts.points.groupby(keys, sort=False):
        reps = ts.reps[d.index.to_numpy()]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            rep_mean = reps.mean(axis=0)
        lo, hi = interval(rep_mean)
        se = standard_error(rep_mean)
        out.append({**dict(zip(keys, key)), "n_tasks": len(d), "delta_s": float(d["delta_s"].mean()),
                    "ci_low": lo, "ci_high": hi, "se": se, "mde": MDE_FACTOR * se,
                    "p": bootstrap_p(float(d["delta_s"].mean()), rep_mean),
                    "min_delta_s": float(d["delta_s"].min()), "max_delta_s": float(d["delta_s"].max()),
                    "n_seeds": int(d["n_seeds"].min())})
    return pd.DataFrame(out)


def beats_table(tidy: pd.DataFrame, experiment: str = "main", paradigm: str = REF_PARADIGM, n_boot: int = 1000,
                seed: int = 0) -> pd.DataFrame:
    """``beats_trivial.csv``: for every task and seed of one experiment's runs of ``paradigm`` (TS by default), the
    model's and the trivial predictor's primary metric and :func:`m2dino.metrics.bootstrap.beats_trivial`'s verdict
    (paired 95% interval of model - trivial over test images above 0, MRE sign-flipped)."""
    prim = primary_table(tidy)
    runs = prim[(prim["experiment"] == experiment) & (prim["paradigm"] == paradigm)]
    rows = []
    for r in runs.sort_values(["task", "seed"]).itertuples():
        d = Path(r.run_dir)
        res = beats_trivial(r.task, read_per_image(d, r.task), read_per_image(d, r.task, PER_IMAGE_TRIVIAL),
                            n_boot=n_boot, seed=_task_seed(r.task, int(r.seed), seed))
        rows.append({"experiment": experiment, "task": r.task, "type": r.type, "group": r.group, "seed": int(r.seed),
                     **res})
    cols = ["experiment", "task", "type", "group", "seed", "model", "trivial", "diff_low", "diff_high", "beats"]
    return pd.DataFrame(rows, columns=cols)


DELTA_S_TASK_COLUMNS = ["experiment", "paradigm", "task", "type", "group", "s_ts", "s_paradigm", "delta_s", "ci_low",
                        "ci_high", "p_holm", "negative_transfer"]


def delta_s_task_csv(table: pd.DataFrame) -> pd.DataFrame:
    """The contract columns of ``delta_s_task.csv`` first, then the rest (fraction, p, mde, relative %, ...)."""
    rest = [c for c in table.columns if c not in DELTA_S_TASK_COLUMNS and c not in ("ts_run_dirs", "run_dirs")]
    return table[DELTA_S_TASK_COLUMNS + rest]
