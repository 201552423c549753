"""Δs = s_paradigm - s_TS per task, with intervals from the crossed seed × image model of
``m2dino.analysis.inference``, per-task p-values with Holm's correction, and Δs per group, per type and over all
tasks (Δm on the headroom scale).

s is the headroom score of ``m2dino.metrics.headroom`` (0 = the trivial predictor, 1 = perfect), so Δs never divides
by a model's own score. Per seed k, s_TS,k and s_paradigm,k use that seed's trivial predictor (the TS run's
``per_image_trivial.csv`` / its ``trivial`` rows in ``metrics.csv``); the point Δs is the mean over seeds.

Evidence (:class:`Evidence`): for every (experiment, paradigm, task) of one experiment family, Δs per seed (from the
metrics) and its per-image jackknife pseudo-values per seed, on the SAME images for TS, CG, AU and the trivial
predictor (paired, matched by ``image_path``). Seeds are shared by every task of a family, images by every row of a
task, so any mean, contrast or slope of rows gets its variance from the one model (``inference.combine``): covariances
between tasks trained in one CG or AU model come through the seeds. The tasks themselves are fixed: the claims are
about these 27 tasks, not a population of tasks.

An experiment *family* is ``main`` or ``data_scale`` (all ``data_scale/frac*`` experiments). Families are never
pooled: :func:`two_stage` builds one at a time and refuses anything else (:class:`PooledEvidenceError`).
"""
from __future__ import annotations

import hashlib
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from m2dino.analysis.change import PARADIGM_LABEL, REF_PARADIGM
from m2dino.metrics.headroom import task_headroom
from m2dino.analysis.inference import (ALPHA, Effects, Row, holm, leave_one_out, pseudo_values,
                                       variance_components)
from m2dino.analysis.tidy import PER_IMAGE, PER_IMAGE_TRIVIAL, TRIVIAL, primary_table, read_per_image
from m2dino.analysis.transfer import classify
from m2dino.metrics.bootstrap import align, beats_trivial, relative
from m2dino.registry import get_task
from m2dino.runs import model_of

FAMILIES = ("main", "data_scale")
Reader = Callable[..., pd.DataFrame]  # (run_dir, task, name=PER_IMAGE) -> per-image table, as read_per_image


class PooledEvidenceError(ValueError):
    """Evidence from the main and the data-scale experiments was mixed: each claim reads one experiment."""


def family_of(experiment: str) -> str:
    """``main``, ``data_scale`` (for ``data_scale/frac<f>``) or the experiment's own name."""
    return "data_scale" if str(experiment).startswith("data_scale/") else str(experiment)


def fraction_of(experiment: str) -> float:
    """Training fraction of an experiment: 1.0 for main, f for ``data_scale/frac<f>``."""
    return float(str(experiment).split("frac", 1)[1]) if "frac" in str(experiment) else 1.0


@dataclass
class Evidence(Effects):
    """Δs of every (experiment, paradigm, task) of one family: ``points`` (one row each) and ``rows`` (the seeds,
    per-seed Δs and per-image pseudo-values of each, in the same order). Any mean, difference or slope of rows is an
    :meth:`estimate` from the crossed model."""

    family: str = "main"


def two_stage(tidy: pd.DataFrame, family: str, paradigms: tuple[str, ...] = ("clinical", "all"),
              bootstrap: bool = True, reader: Reader = read_per_image) -> Evidence:
    """Δs of each paradigm against TS for every task of one experiment family, with per-image pseudo-values
    (``bootstrap=False``: points only, no per-image table is read); ``reader`` reads a run's per-image table."""
    if not isinstance(family, str) or family not in FAMILIES:
        raise PooledEvidenceError(f"family must be one of {FAMILIES} (never both pooled), got {family!r}")
    prim = primary_table(tidy)
    exps = sorted(e for e in prim["experiment"].unique() if family_of(e) == family)
    if not exps:
        raise ValueError(f"no runs of the {family} experiment")
    rows, ev_rows = [], []
    for exp in exps:
        pe = prim[prim["experiment"] == exp]
        present = [p for p in paradigms if (pe["paradigm"] == p).any()]
        runs: dict[tuple[str, str], dict[int, tuple]] = {}
        for r in pe[["paradigm", "task", "seed", "value", "run_dir", "unit", "n_train", "n_test"]].itertuples(
                index=False):
            runs.setdefault((r.paradigm, r.task), {})[int(r.seed)] = (r.value, r.run_dir, r.unit, r.n_train, r.n_test)
        for task in sorted(pe.loc[pe["paradigm"] == REF_PARADIGM, "task"].unique()):
            by = {p: runs.get((p, task), {}) for p in (REF_PARADIGM, TRIVIAL, *present)}
            cache: dict[int, dict] = {}
            for p in present:
                seeds = sorted(set(by[REF_PARADIGM]) & set(by[p]) & set(by[TRIVIAL]))
                if not seeds:
                    continue
                point = _point_row(exp, p, task, seeds, by)
                x, images = None, task
                if bootstrap:
                    x, images = _pseudo(task, p, seeds, by, cache, reader)
                    point.update(variance_components(x[:, np.isfinite(x).all(0)]))
                rows.append(point)
                ev_rows.append(Row(tuple(seeds), point.pop("_per_seed"), x, images,
                                   tuple(model_of(by[q][seeds[0]][1]) for q in (p, REF_PARADIGM))))
    if not rows:
        raise ValueError(f"the {family} experiment has no task with runs of TS and one of {list(paradigms)}")
    return Evidence(pd.DataFrame(rows), ev_rows, "delta_s", family)


def _point_row(exp: str, p: str, task: str, seeds: list[int], by: dict[str, dict[int, tuple]]) -> dict:
    t = get_task(task)
    col = {k: list(zip(*(by[k][s] for s in seeds))) for k in (REF_PARADIGM, p, TRIVIAL)}  # value, dir, unit, ...
    ts, pp, tr = (np.asarray(col[k][0], dtype=float) for k in (REF_PARADIGM, p, TRIVIAL))
    s_ts, s_p = task_headroom(task, ts, tr), task_headroom(task, pp, tr)
    d = np.asarray(s_p - s_ts, dtype=float)
    rel = relative(pp, ts, t.direction) * 100.0
    return {"experiment": exp, "fraction": fraction_of(exp), "paradigm": p,
            "comparison": f"{PARADIGM_LABEL[p]} vs TS", "task": task, "type": t.type, "group": t.group,
            "unit": str(col[p][2][0]), "metric": t.primary_metric,
            "seeds": ",".join(str(int(s)) for s in seeds), "n_seeds": len(seeds),
            "ts_value": float(np.mean(ts)), "paradigm_value": float(np.mean(pp)), "trivial_value": float(np.mean(tr)),
            "s_ts": float(np.mean(s_ts)), "s_paradigm": float(np.mean(s_p)), "delta_s": float(np.mean(d)),
            "seed_sd": float(np.std(d, ddof=1)) if len(d) > 1 else 0.0,
            "rel_change_pct": float(np.mean(rel)) if np.isfinite(rel).all() else np.nan,
            "n_train": float(np.mean(col[p][3])), "n_test": float(np.mean(col[p][4])),
            "ts_run_dirs": ";".join(map(str, col[REF_PARADIGM][1])), "run_dirs": ";".join(map(str, col[p][1])),
            "_per_seed": d}


def _pseudo(task: str, p: str, seeds: list[int], by: dict[str, pd.DataFrame], cache: dict, reader: Reader
            ) -> tuple[np.ndarray, str]:
    """[K, n] jackknife pseudo-values of Δs (seed rows), and the key of the image set (task and image paths)."""
    out, key = [], ""
    for s in seeds:
        if s not in cache:  # TS and its trivial predictor, shared by every paradigm of the task
            ts_dir = by[REF_PARADIGM][s][1]
            ts = reader(ts_dir, task)
            if not ts["image_path"].is_monotonic_increasing:
                ts = ts.sort_values("image_path", kind="stable").reset_index(drop=True)
            if ts["image_path"].duplicated().any():
                align(task, {REF_PARADIGM: ts})  # raises, naming the task
            paths = ts["image_path"].to_numpy()
            triv = _same_images(task, reader(ts_dir, task, PER_IMAGE_TRIVIAL), paths, "trivial predictor")
            digest = hashlib.sha1("\n".join(map(str, paths)).encode()).hexdigest()[:10]
            cache[s] = {"paths": paths, "key": f"{task}/{digest}", REF_PARADIGM: leave_one_out(task, ts),
                        TRIVIAL: leave_one_out(task, triv)}
        c = cache[s]
        new = _same_images(task, reader(by[p][s][1], task, PER_IMAGE), c["paths"], PARADIGM_LABEL.get(p, p))
        (ts_full, ts_loo), (tr_full, tr_loo) = c[REF_PARADIGM], c[TRIVIAL]
        p_full, p_loo = leave_one_out(task, new)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            full = task_headroom(task, p_full, tr_full) - task_headroom(task, ts_full, tr_full)
            loo = task_headroom(task, p_loo, tr_loo) - task_headroom(task, ts_loo, tr_loo)
        out.append(pseudo_values(full, loo))
        key = key or c["key"]
    return np.vstack(out), key


def _same_images(task: str, df: pd.DataFrame, paths: np.ndarray, name: str) -> pd.DataFrame:
    """``df`` sorted by image path, checked to hold exactly ``paths`` (the TS run's images, sorted)."""
    if not df["image_path"].is_monotonic_increasing:
        df = df.sort_values("image_path", kind="stable").reset_index(drop=True)
    if len(df) != len(paths) or not np.array_equal(df["image_path"].to_numpy(), paths):
        return align(task, {REF_PARADIGM: pd.DataFrame({"image_path": paths}), name: df})[name]  # raises, naming both
    return df


# ---- summaries ------------------------------------------------------------------------------------------------------

def task_table(ev: Evidence, beats: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per experiment, paradigm and task: Δs with its 95% interval (crossed seed × image model, t with
    Satterthwaite's degrees of freedom ``df``), a two-sided p-value, Holm's adjustment over the tasks of the
    comparison (experiment, paradigm), negative/positive transfer (Holm p < 0.05 below/above 0), the minimum detectable
    effect at Holm's first-step level 0.05/m (80% power), and the relative change in % as a secondary column only
    where TS beats the trivial predictor in every seed (``beats``: :func:`beats_table`); ``rel_excluded`` says why
    a task has none."""
    out = ev.points.copy()
    est = [ev.estimate({i: 1.0}) for i in range(len(out))]
    ci = np.array([e.interval() for e in est]).reshape(-1, 2)
    out["ci_low"], out["ci_high"] = ci[:, 0], ci[:, 1]
    out["se"] = [e.se for e in est]
    out["df"] = [e.df for e in est]
    out["interval_basis"] = [e.basis for e in est]
    out["p"] = [e.p() for e in est]
    out["p_holm"] = np.nan
    out["mde"] = np.nan
    for _, idx in out.groupby(["experiment", "paradigm"], sort=False).groups.items():
        out.loc[idx, "p_holm"] = holm(out.loc[idx, "p"])
        m = max(int(np.isfinite(out.loc[idx, "p"]).sum()), 1)
        out.loc[idx, "mde"] = [est[i].mde(ALPHA / m) for i in idx]
    transfer = classify(out, "delta_s")["transfer"]  # the definition every table of transfer uses
    out["negative_transfer"] = transfer == "negative"
    out["positive_transfer"] = transfer == "positive"
    out["transfer"] = transfer
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
    b = {(e, t, int(s)): bool(v) for e, t, s, v in zip(beats["experiment"], beats["task"], beats["seed"],
                                                        beats["beats"])}
    ok, why = [], []
    for exp, task, seeds_str in zip(rows["experiment"], rows["task"], rows["seeds"]):
        seeds = [int(s) for s in str(seeds_str).split(",")]
        got = [b.get((exp, task, s)) for s in seeds]
        missing = [s for s, g in zip(seeds, got) if g is None]
        failed = [s for s, g in zip(seeds, got) if g is not None and not g]
        ok.append(not missing and not failed)
        why.append("" if ok[-1] else (f"TS does not clearly beat the trivial predictor (seeds {failed})" if failed
                                      else f"no beats-trivial interval (seeds {missing})"))
    return np.array(ok, bool), np.array(why, object)


def aggregate(ev: Evidence, by: str | None) -> pd.DataFrame:
    """Mean Δs over tasks per experiment, paradigm and ``by`` (``group``, ``type``, or None for all tasks: Δm on the
    headroom scale), with the 95% interval of the mean from the crossed model (tasks of one model share their seeds,
    see the module notes) and its MDE at two-sided 5%."""
    keys = ["experiment", "fraction", "paradigm", "comparison"] + ([by] if by else [])
    out = []
    for key, d in ev.points.groupby(keys, sort=False):
        e = ev.mean(d.index[np.isfinite(d["delta_s"])])
        lo, hi = e.interval()
        out.append({**dict(zip(keys, key)), "n_tasks": len(d), "delta_s": float(d["delta_s"].mean()),
                    "ci_low": lo, "ci_high": hi, "se": e.se, "df": e.df, "mde": e.mde(), "p": e.p(),
                    "min_delta_s": float(d["delta_s"].min()), "max_delta_s": float(d["delta_s"].max()),
                    "n_seeds": int(d["n_seeds"].min()), "interval_basis": e.basis})
    return pd.DataFrame(out)


def beats_table(tidy: pd.DataFrame, experiment: str = "main", paradigm: str = REF_PARADIGM, n_boot: int = 1000,
                seed: int = 0, reader: Reader = read_per_image) -> pd.DataFrame:
    """``beats_trivial.csv``: for every task and seed of one experiment's runs of ``paradigm`` (TS by default), the
    model's and the trivial predictor's primary metric and :func:`m2dino.metrics.bootstrap.beats_trivial`'s verdict
    (paired 95% interval of model - trivial over test images above 0, MRE sign-flipped)."""
    prim = primary_table(tidy)
    runs = prim[(prim["experiment"] == experiment) & (prim["paradigm"] == paradigm)]
    rows = []
    for r in runs.sort_values(["task", "seed"]).itertuples():
        res = beats_trivial(r.task, reader(r.run_dir, r.task), reader(r.run_dir, r.task, PER_IMAGE_TRIVIAL),
                            n_boot=n_boot, seed=zlib.crc32(f"{r.task}/seed{int(r.seed)}".encode()) ^ seed)
        rows.append({"experiment": experiment, "task": r.task, "type": r.type, "group": r.group, "seed": int(r.seed),
                     **res})
    cols = ["experiment", "task", "type", "group", "seed", "model", "trivial", "diff_low", "diff_high", "beats"]
    return pd.DataFrame(rows, columns=cols)


DELTA_S_TASK_COLUMNS = ["experiment", "paradigm", "task", "type", "group", "s_ts", "s_paradigm", "delta_s", "ci_low",
                        "ci_high", "p_holm", "negative_transfer"]


def delta_s_task_csv(table: pd.DataFrame) -> pd.DataFrame:
    """The contract columns of ``delta_s_task.csv`` first, then the rest (fraction, p, mde, variance components...)."""
    rest = [c for c in table.columns if c not in DELTA_S_TASK_COLUMNS and c not in ("ts_run_dirs", "run_dirs")]
    return table[DELTA_S_TASK_COLUMNS + rest]

