"""Per-task change of one set of runs against another (by default: each paradigm against task-specific, TS), the
secondary effect beside Δs.

The change of task t is the relative change of its primary metric, direction-aware so that positive is better
(MRE: lower is better), in percent:  change_t = d_t (M_new,t - M_ref,t) / M_ref,t x 100,  d_t = +1 (Dice, AUC, IoU) or
-1 (MRE). Per seed from the runs' metrics; the task's change is the mean over the seeds both sets have.

Its 95% interval, p-value and Holm adjustment come from the crossed seed × image model of
``m2dino.analysis.inference``, on the jackknife pseudo-values of the relative change over the test images (paired,
matched by path): the same machinery as Δs, never an average of per-seed bounds.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from m2dino.analysis.inference import Effects, Row, holm, jackknife
from m2dino.analysis.tidy import primary_table, read_per_image
from m2dino.metrics.bootstrap import align, relative
from m2dino.registry import get_task
from m2dino.runs import model_of

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


def relative_change(task: str, ref: float, new: float) -> float:
    """Direction-aware relative change in percent (positive = better), the per-task term of Δm.

    NaN when the reference is 0 or not finite (e.g. a TS model with Dice 0 at the smoke profile): no relative change
    is defined, and such tasks are left out of means and Δm, whose task counts say so.
    """
    if not np.isfinite(ref) or not np.isfinite(new):
        return float("nan")
    return float(relative(new, ref, get_task(task).direction)) * 100.0


def compare_per_seed(tidy: pd.DataFrame, ref: RunSet, new: RunSet) -> pd.DataFrame:
    """Change of ``new`` against ``ref`` for every task and seed present in both (one row each; points only: the
    intervals are per task, :func:`compare`)."""
    prim = primary_table(tidy)
    a = prim[(prim["experiment"] == ref.experiment) & (prim["paradigm"] == ref.paradigm)]
    b = prim[(prim["experiment"] == new.experiment) & (prim["paradigm"] == new.paradigm)]
    keys = ["task", "seed"]
    m = a[keys + ["value", "run_dir"]].merge(
        b[keys + ["type", "group", "unit", "metric", "n_train", "n_test", "value", "run_dir"]],
        on=keys, suffixes=("_ref", "_new"))
    if m.empty:
        raise ValueError(f"no task has runs of both {ref.label} and {new.label} with a common seed")
    return pd.DataFrame({"comparison": f"{new.label} vs {ref.label}", "experiment": new.experiment,
                         "paradigm": new.paradigm, "ref_experiment": ref.experiment, "ref_paradigm": ref.paradigm,
                         "task": m["task"], "type": m["type"], "group": m["group"], "unit": m["unit"],
                         "seed": m["seed"].astype(int), "metric": m["metric"], "n_train": m["n_train"],
                         "n_test": m["n_test"], "ref_value": m["value_ref"], "new_value": m["value_new"],
                         "change": [relative_change(t, r, n) for t, r, n in zip(m["task"], m["value_ref"],
                                                                                 m["value_new"])],
                         "ref_run_dir": m["run_dir_ref"], "new_run_dir": m["run_dir_new"]})


def compare(tidy: pd.DataFrame, ref: RunSet, new: RunSet, bootstrap: bool = True,
            reader=read_per_image) -> Effects:
    """One row per task: the change of ``new`` against ``ref`` averaged over their common seeds, with its interval,
    p and Holm p (over this comparison's tasks) from the crossed model; ``bootstrap=False``: points only (no
    per-image table is read). The :class:`~m2dino.analysis.inference.Effects` it returns combine into means."""
    per = compare_per_seed(tidy, ref, new)
    keys = ["comparison", "experiment", "paradigm", "ref_experiment", "ref_paradigm", "task", "type", "group",
            "metric"]
    points, rows = [], []
    for key, d in per.groupby(keys, sort=False):
        d = d.sort_values("seed")
        seeds = tuple(int(s) for s in d["seed"])
        ch = d["change"].to_numpy(float)
        x = _pseudo(key[5], d, reader) if bootstrap and np.isfinite(ch).all() else None
        points.append({**dict(zip(keys, key)), "change": float(np.mean(ch)),
                       "seed_sd": float(np.std(ch, ddof=1)) if len(ch) > 1 else 0.0, "n_seeds": len(seeds),
                       "seeds": ",".join(map(str, seeds)), "ref_value": float(d["ref_value"].mean()),
                       "new_value": float(d["new_value"].mean()), "n_train": float(d["n_train"].mean()),
                       "n_test": float(d["n_test"].mean())})
        models = tuple(model_of(d[c].iloc[0]) for c in ("new_run_dir", "ref_run_dir"))
        rows.append(Row(seeds, ch, x, str(key[5]), models))
    eff = Effects(pd.DataFrame(points), rows, "change")
    est = [eff.estimate({i: 1.0}) if rows[i].x is not None else None for i in range(len(rows))]
    ci = np.array([e.interval() if e is not None else (np.nan, np.nan) for e in est]).reshape(-1, 2)
    eff.points["ci_low"], eff.points["ci_high"] = ci[:, 0], ci[:, 1]
    eff.points["se"] = [e.se if e is not None else np.nan for e in est]
    eff.points["df"] = [e.df if e is not None else np.nan for e in est]
    eff.points["p"] = [e.p() if e is not None else np.nan for e in est]
    eff.points["p_holm"] = holm(eff.points["p"])
    return eff


def _pseudo(task: str, d: pd.DataFrame, reader) -> np.ndarray:
    """[K, n] jackknife pseudo-values of the relative change (%) of one task, seed by seed."""
    direction = get_task(task).direction
    out = []
    for r in d.itertuples():
        tabs = align(task, {"reference": reader(Path(r.ref_run_dir), task), "new": reader(Path(r.new_run_dir), task)})
        out.append(jackknife(task, tabs, lambda m: relative(m["new"], m["reference"], direction) * 100.0))
    return np.vstack(out)


def task_changes(tidy: pd.DataFrame, experiment: str = "main", paradigms: tuple[str, ...] = ("clinical", "all"),
                 n_boot: int = 0, seed: int = 0, bootstrap: bool = True, reader=read_per_image) -> pd.DataFrame:
    """Per-task change of each paradigm against TS within one experiment (rows: paradigm x task), with intervals,
    p and Holm p per comparison (``n_boot`` and ``seed`` are not used: the intervals come from the crossed model)."""
    ref = RunSet(experiment, REF_PARADIGM)
    parts = [compare(tidy, ref, RunSet(experiment, p), bootstrap, reader).points
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
