"""Know before you train: task affinity from one all-task run predicts transfer, and groups found from it.

Affinity comes from ``affinity.csv`` of the main AU run (``m2dino.train.affinity``): ``Z_{i->j}`` per step and
estimator (TAG's lookahead, or the gradient cosine), averaged over the measured steps and then over seeds.

- **Predicted transfer.** Under a unit U (a clinical group for CG, all tasks for AU), task j receives the updates of the
  other tasks of U. Its predicted transfer is the exposure-weighted mean affinity onto it,
  ``P_j(U) = Σ_{i∈U, i≠j} w_i Z_{i->j} / Σ w_i``, with w_i task i's share of the AU run's steps (``train_log.csv``;
  the same per-task exposure holds in every paradigm). A task alone in its unit has no prediction. A task is *flagged*
  in advance when ``P_j < 0``: the others' steps raise its loss on average.
- **Checked against the runs.** Spearman's rank correlation between P and the measured per-task transfer, with a
  bootstrap interval over tasks, and the share of negative-transfer tasks that were flagged. The measured transfer is
  Δs from ``tables/delta_s_task.csv`` when that table exists, else the relative change against TS (percent, intervals
  over seeds and images, ``m2dino.analysis.change``); the tables say which in ``measure``.
- **Groups from data.** Average-linkage clustering of the symmetrised affinity into as many groups as the clinical
  grouping has, written as a grouping config to ``results/<profile>/groupings/affinity.yaml``; CG is trained on it as
  ``experiment=affinity_groups/<hash>`` (the hash of the groups, so a new grouping never overwrites the runs of an
  old one) and compared with the clinical CG by Δm and negative-transfer counts, with Δm's intervals from the
  crossed seed × image model (``m2dino.analysis.inference``).
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.cluster.hierarchy import fcluster
from scipy.stats import spearmanr

from m2dino import runs
from m2dino.analysis.clustering import average_linkage
from m2dino.analysis.inference import percentile_interval, task_resamples
from m2dino.grouping import load_grouping, resolve_groups
from m2dino.registry import all_tasks

ESTIMATORS = ("lookahead", "cosine")
GROUPS_EXPERIMENT = "affinity_groups"
GROUPING_NAME = "affinity"
AFFINITY_COLUMNS = ["step", "i", "j", "value", "estimator"]


class NoAffinityError(FileNotFoundError):
    """No run with an ``affinity.csv`` where one was expected."""


# ---- reading ----

def read_affinity(run_dir: Path) -> pd.DataFrame:
    """One run's ``affinity.csv``, checked; errors name the file."""
    path = Path(run_dir) / runs.AFFINITY
    if not path.exists():
        raise NoAffinityError(f"{path}: no affinity measured in this run (train.affinity.enabled=false?)")
    df = runs.read_table(run_dir, runs.AFFINITY)
    missing = [c for c in AFFINITY_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing columns {missing}")
    bad = sorted(set(df["estimator"]) - set(ESTIMATORS))
    if bad:
        raise ValueError(f"{path}: unknown estimators {bad}")
    return df


def affinity_runs(where: Path | pd.DataFrame, experiment: str = runs.MAIN, paradigm: str = "all") -> list[Path]:
    """The finished run folders of ``experiment``/``paradigm`` that hold an ``affinity.csv``, one per unit and seed;
    ``where``: ``results/<profile>``, or a runs table (``m2dino.runs.discover``, ``m2dino.study.current``)."""
    table = runs.discover(where, experiment) if not isinstance(where, pd.DataFrame) else where
    table = table[(table["experiment"] == experiment) & (table["paradigm"] == paradigm)]
    return [d for d in runs.finished(table) if (d / runs.AFFINITY).is_file()]


def load_affinity(run_dirs: Sequence[Path]) -> pd.DataFrame:
    """The ``affinity.csv`` of several runs (seeds), with a ``seed`` column."""
    if not run_dirs:
        raise NoAffinityError("no finished run with an affinity.csv: train the main AU run with "
                              "train.affinity.enabled=true (the smoke and demo profiles do)")
    return pd.concat([read_affinity(d).assign(seed=int(Path(d).name.removeprefix("seed"))) for d in run_dirs],
                     ignore_index=True)


def affinity_matrix(aff: pd.DataFrame, estimator: str = "lookahead") -> pd.DataFrame:
    """Z[i, j] averaged over the measured steps of each seed, then over seeds; tasks in registry order."""
    d = aff[aff["estimator"] == estimator]
    if d.empty:
        raise NoAffinityError(f"no {estimator!r} affinity measured (estimators present: {sorted(set(aff['estimator']))})")
    m = d.groupby(["seed", "i", "j"])["value"].mean().groupby(["i", "j"]).mean().unstack("j")
    order = [t.id for t in all_tasks() if t.id in m.index]
    return m.reindex(index=order, columns=order)


def exposure(run_dirs: Sequence[Path]) -> pd.Series:
    """Each task's share of the training steps (from ``train_log.csv``): how much its updates weigh on the others."""
    counts = [runs.read_table(d, runs.TRAIN_LOG)["task"].value_counts() for d in run_dirs]
    c = pd.concat(counts, axis=1).fillna(0).sum(axis=1)
    return c / c.sum()


# ---- prediction ----

def predicted_transfer(matrix: pd.DataFrame, units: Mapping[str, Sequence[str]],
                       weights: pd.Series | None = None) -> pd.DataFrame:
    """P_j(U) for every task j of every unit U (rows: unit, task, n_others, predicted); NaN for a task alone."""
    w = weights if weights is not None else pd.Series(1.0, index=matrix.index)
    rows = []
    for unit, ids in units.items():
        ids = [t for t in ids if t in matrix.index]
        for j in ids:
            others = [i for i in ids if i != j]
            ww = w.reindex(others).fillna(0.0).to_numpy(float)
            z = matrix.loc[others, j].to_numpy(float) if others else np.array([])
            ok = np.isfinite(z) & (ww > 0)
            pred = float((ww[ok] * z[ok]).sum() / ww[ok].sum()) if ok.any() else float("nan")
            rows.append({"unit": unit, "task": j, "n_others": len(others), "predicted": pred})
    return pd.DataFrame(rows)


def paradigm_units(paradigm: str, tasks: Sequence[str]) -> dict[str, list[str]]:
    """The units a task set is trained in under CG (clinical groups) or AU (one unit)."""
    if paradigm == "all":
        return {"all": list(tasks)}
    if paradigm == "clinical":
        return {g: [t for t in ids if t in tasks] for g, ids in resolve_groups(load_grouping("clinical")).items()}
    raise ValueError(f"no prediction for paradigm {paradigm!r} (clinical or all)")


def predictions(matrices: Mapping[str, pd.DataFrame], weights: pd.Series | None = None,
                paradigms: Sequence[str] = ("clinical", "all")) -> pd.DataFrame:
    """Predicted transfer per estimator, paradigm and task (long table)."""
    parts = []
    for est, m in matrices.items():
        for p in paradigms:
            parts.append(predicted_transfer(m, paradigm_units(p, list(m.index)), weights)
                         .assign(estimator=est, paradigm=p))
    return pd.concat(parts, ignore_index=True)[["estimator", "paradigm", "unit", "task", "n_others", "predicted"]]


def measured_transfer(tidy: pd.DataFrame, tables_dir: Path, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Measured per-task transfer of CG and AU against TS in the main experiment: Δs from ``delta_s_task.csv`` when
    present, else the relative change (percent) with its interval over seeds and images. Columns: paradigm, task, type,
    group, measured, ci_low, ci_high, negative_transfer, measure."""
    path = Path(tables_dir) / "delta_s_task.csv"
    if path.exists():
        d = pd.read_csv(path)
        need = ["experiment", "paradigm", "task", "delta_s", "ci_low", "ci_high", "negative_transfer"]
        missing = [c for c in need if c not in d.columns]
        if missing:
            raise ValueError(f"{path}: missing columns {missing}")
        d = d[(d["experiment"] == "main") & d["paradigm"].isin(["clinical", "all"])]
        if len(d):
            return pd.DataFrame({"paradigm": d["paradigm"], "task": d["task"], "type": d.get("type"),
                                 "group": d.get("group"), "measured": d["delta_s"], "ci_low": d["ci_low"],
                                 "ci_high": d["ci_high"], "negative_transfer": d["negative_transfer"].astype(bool),
                                 "measure": "Δs"}).reset_index(drop=True)
    from m2dino.analysis.change import task_changes
    from m2dino.analysis.transfer import classify

    c = classify(task_changes(tidy, "main", n_boot=n_boot, seed=seed))
    return pd.DataFrame({"paradigm": c["paradigm"], "task": c["task"], "type": c["type"], "group": c["group"],
                         "measured": c["change"], "ci_low": c["ci_low"], "ci_high": c["ci_high"],
                         "negative_transfer": c["transfer"] == "negative", "measure": "change vs TS (%)"})


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(spearmanr(x, y).statistic)


def evaluate_predictions(pred: pd.DataFrame, measured: pd.DataFrame, n_boot: int = 1000,
                         seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per-task table of predicted beside measured, summary per estimator and paradigm).

    Summary: Spearman's ρ with a 95% percentile interval from a bootstrap over tasks (``inference.task_resamples``:
    here the tasks are the sample, the question being whether affinity ranks them), the number of negative-transfer
    tasks, how many of them were flagged (P < 0) and that share, and how many tasks were flagged in all.
    """
    m = pred.merge(measured, on=["paradigm", "task"], how="inner")
    m = m[np.isfinite(m["predicted"]) & np.isfinite(m["measured"])].reset_index(drop=True)
    m["flagged"] = m["predicted"] < 0
    rows = []
    for (est, p), d in m.groupby(["estimator", "paradigm"], sort=False):
        x, y = d["predicted"].to_numpy(float), d["measured"].to_numpy(float)
        lo, hi = percentile_interval(np.array([_spearman(x[k], y[k]) for k in task_resamples(len(d), n_boot, seed)]))
        neg = d["negative_transfer"].to_numpy(bool)
        flagged = d["flagged"].to_numpy(bool)
        rows.append({"estimator": est, "paradigm": p, "measure": d["measure"].iloc[0], "n_tasks": len(d),
                     "spearman": _spearman(x, y), "ci_low": lo, "ci_high": hi, "n_negative": int(neg.sum()),
                     "n_negative_flagged": int((neg & flagged).sum()),
                     "share_negative_flagged": float((neg & flagged).sum() / neg.sum()) if neg.any() else np.nan,
                     "n_flagged": int(flagged.sum())})
    return m, pd.DataFrame(rows)


# ---- groups from data ----

def symmetric(matrix: pd.DataFrame) -> pd.DataFrame:
    """(Z + Zᵀ)/2: how well two tasks get on, both ways."""
    return (matrix + matrix.T) / 2


def cluster_order(matrix: pd.DataFrame) -> tuple[list[str], np.ndarray]:
    """Average-linkage clustering of the symmetrised affinity (distance: max off-diagonal affinity minus affinity);
    the leaf order and the linkage matrix."""
    s = symmetric(matrix)
    off = ~np.eye(len(s), dtype=bool)
    return average_linkage(np.nanmax(s.to_numpy(float)[off]) - s)


def data_groups(matrix: pd.DataFrame, k: int) -> dict[str, list[str]]:
    """``k`` groups of tasks from the affinity (average linkage, cut into at most k clusters); named ``a1``... in
    the order of their first task in the registry, members in registry order."""
    if len(matrix) < 2:
        raise ValueError("clustering needs at least two tasks")
    _, z = cluster_order(matrix)
    labels = fcluster(z, t=min(k, len(matrix)), criterion="maxclust")
    groups: dict[int, list[str]] = {}
    for t, lab in zip(matrix.index, labels):
        groups.setdefault(int(lab), []).append(t)
    order = [t.id for t in all_tasks()]
    ranked = sorted(groups.values(), key=lambda ids: min(order.index(t) for t in ids))
    return {f"a{n + 1}": sorted(ids, key=order.index) for n, ids in enumerate(ranked)}


def groups_hash(groups: Mapping[str, Sequence[str]]) -> str:
    """A short hash of a grouping's content: the experiment name of the CG runs trained on it."""
    return hashlib.sha256(json.dumps({g: list(v) for g, v in groups.items()}, sort_keys=True).encode()).hexdigest()[:8]


def groups_experiment(groups: Mapping[str, Sequence[str]]) -> str:
    return f"{GROUPS_EXPERIMENT}/{groups_hash(groups)}"


def write_data_grouping(groups: Mapping[str, Sequence[str]], profile_root: Path, estimator: str,
                        provenance: str) -> Path:
    """``results/<profile>/groupings/affinity.yaml`` in the format of ``conf/grouping/*.yaml``."""
    from m2dino.grouping import write_grouping

    comment = (f"Groups found from data: average-linkage clustering of the {estimator} task affinity measured in the "
               f"main all-task run ({provenance}),\ncut into as many groups as the clinical grouping has. Generated "
               f"by m2dino.analysis.affinity; use it with grouping=<this file>.")
    return write_grouping(groups, Path(profile_root) / "groupings" / f"{GROUPING_NAME}.yaml", GROUPING_NAME, comment)


def groups_table(groupings: Mapping[str, Mapping[str, Sequence[str]]]) -> pd.DataFrame:
    """Task -> group under each grouping (one column per grouping), in registry order."""
    rows = []
    for t in all_tasks():
        row = {"task": t.id, "type": t.type}
        for name, groups in groupings.items():
            row[name] = next((g for g, ids in groups.items() if t.id in ids), None)
        rows.append(row)
    return pd.DataFrame(rows)


def compare_groupings(tidy: pd.DataFrame, experiments: Mapping[str, str], n_boot: int = 1000,
                      seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """CG under each grouping (label -> experiment of its CG runs) against the main TS runs.

    Returns (per-task changes, summary). Summary per grouping: Δm (mean change over tasks, %) with its 95% interval
    from the crossed seed × image model (``m2dino.analysis.inference``; the tasks are fixed, the seeds and test
    images are the samples), the number of tasks with negative transfer (Holm p < 0.05 below 0), and the paired
    difference of Δm from the first grouping's, with its interval (same seeds, same images). Tasks alone in their
    group (CG = TS) count as in any grouping. Only the seeds that every grouping's CG runs share enter (column
    ``seeds``), so the groupings are compared on the same seeds. ``n_boot`` and ``seed`` are not used.
    """
    from m2dino.analysis import change
    from m2dino.analysis.inference import Effects
    from m2dino.analysis.transfer import classify

    cg = tidy[tidy["paradigm"] == "clinical"]
    seeds = set.intersection(*(set(cg.loc[cg["experiment"] == e, "seed"]) for e in experiments.values()))
    tidy = tidy[tidy["seed"].isin(seeds)]  # the seeds every grouping trained (the affinity groups may run fewer)
    ref = change.RunSet("main", "single")
    effs = {lab: change.compare(tidy, ref, change.RunSet(exp, "clinical")) for lab, exp in experiments.items()}
    per = {lab: classify(e.points).assign(grouping=lab) for lab, e in effs.items()}
    tasks = sorted(set.intersection(*(set(d["task"]) for d in per.values())))
    # one table of every grouping's rows, so that a difference of groupings is one linear combination
    both = Effects(pd.concat([e.points for e in effs.values()], ignore_index=True),
                   [r for e in effs.values() for r in e.rows], "change")
    offset, at = {}, 0
    for lab, e in effs.items():
        offset[lab], at = at, at + len(e.points)
    first = next(iter(effs))

    def idx(lab: str) -> dict[str, int]:
        t = effs[lab].points["task"].tolist()
        return {task: offset[lab] + t.index(task) for task in tasks}

    rows = []
    for lab, d in per.items():
        d = d.set_index("task").loc[tasks]
        ch = d["change"].to_numpy(float)
        ok = [t for t, c in zip(tasks, ch) if np.isfinite(c)]
        e = both.mean([idx(lab)[t] for t in ok])
        lo, hi = e.interval()
        first_ch = per[first].set_index("task").loc[tasks, "change"].to_numpy(float)
        both_ok = [t for t, a, b in zip(tasks, ch, first_ch) if np.isfinite(a) and np.isfinite(b)]
        w = {**{idx(lab)[t]: 1 / len(both_ok) for t in both_ok}}
        if lab != first:
            w.update({idx(first)[t]: -1 / len(both_ok) for t in both_ok})
        diff = both.estimate(w) if lab != first else None
        dlo, dhi = diff.interval() if diff is not None else (0.0, 0.0)
        rows.append({"grouping": lab, "experiment": experiments[lab], "seeds": " ".join(map(str, sorted(seeds))),
                     "n_tasks": len(tasks), "delta_m": float(np.nanmean(ch)), "delta_m_ci_low": lo,
                     "delta_m_ci_high": hi, "n_negative": int((d["transfer"] == "negative").sum()),
                     f"delta_m_minus_{first}": float(np.nanmean(ch[np.isin(tasks, both_ok)]) -
                                                     np.nanmean(first_ch[np.isin(tasks, both_ok)])),
                     "diff_ci_low": dlo, "diff_ci_high": dhi})
    return pd.concat(per.values(), ignore_index=True), pd.DataFrame(rows)


# ---- the README paragraph ----

def affinity_findings(summary: pd.DataFrame, comparison: pd.DataFrame | None, label: str,
                      estimator: str = "lookahead") -> str:
    """One generated paragraph of findings for the README, from the tables of notebook 10; labelled with ``label``
    (profile, seeds, data)."""
    out = [f"**Task affinity — {label}.**"]
    if "synthetic" in label:
        out.append("Synthetic stand-in data: this tests the method, not the study's tasks.")
    s = summary[summary["estimator"] == estimator]
    names = {"clinical": "CG", "all": "AU"}
    for r in s.itertuples():
        flagged = (f"{r.n_negative_flagged} of {r.n_negative} negative-transfer tasks were flagged in advance"
                   if r.n_negative else "no task showed negative transfer")
        rho = (f"Spearman ρ = {r.spearman:+.2f} [{r.ci_low:+.2f}, {r.ci_high:+.2f}]" if np.isfinite(r.spearman)
               else "an undefined Spearman ρ (too few tasks or constant values)")
        out.append(f"Under {names.get(r.paradigm, r.paradigm)}, the {estimator} affinity from the all-task run ranks "
                   f"the measured per-task transfer ({r.measure}) with {rho} over {r.n_tasks} tasks; {flagged} "
                   f"({r.n_flagged} flagged in all).")
    if comparison is not None and len(comparison) > 1:
        a, b = comparison.iloc[0], comparison.iloc[1]
        diff = [c for c in comparison.columns if c.startswith("delta_m_minus_")][0]
        seeds = str(b["seeds"]).split()
        out.append(f"CG on the {b['grouping']} groups (found from data): Δm "
                   f"{b['delta_m']:+.1f}% [{b['delta_m_ci_low']:+.1f}, {b['delta_m_ci_high']:+.1f}] and "
                   f"{b['n_negative']} negative-transfer tasks, against {a['delta_m']:+.1f}% "
                   f"[{a['delta_m_ci_low']:+.1f}, {a['delta_m_ci_high']:+.1f}] and {a['n_negative']} with the "
                   f"{a['grouping']} groups (difference {b[diff]:+.1f} points [{b['diff_ci_low']:+.1f}, "
                   f"{b['diff_ci_high']:+.1f}]; intervals over seeds and test images, {int(b['n_tasks'])} tasks; "
                   f"both groupings on {'seeds' if len(seeds) > 1 else 'seed'} {', '.join(seeds)}).")
    return " ".join(out) + "\n"


# ---- the advisor's affinity evidence ----

PROBE_EXPERIMENT = "affinity_probe"  # the short AU run that only measures affinity (m2dino.study.plans.probe_plan)


def find_affinity(where: Path | pd.DataFrame) -> tuple[list[Path], str] | None:
    """The runs to take affinity from, and what they are: the main AU run's, else a short probe run's; or None.
    ``where``: ``results/<profile>``, or a runs table (``m2dino.study.current``)."""
    for exp, what in (("main", "the main AU run"), (PROBE_EXPERIMENT, "a short affinity run (affinity_probe)")):
        found = affinity_runs(where, exp)
        if found:
            return found, what
    return None


def affinity_advice(matrix: pd.DataFrame, weights: pd.Series | None, tasks: Sequence[str], source: str,
                    estimator: str, check: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per queried task: predicted transfer from its clinical group (CG) and from all tasks (AU), the clinical group
    whose tasks' updates help it most, a recommendation and what it is based on.

    Recommendation: AU if its prediction is ≥ 0 and ≥ CG's, else CG if that is ≥ 0, else TS (every other task's
    updates raise its loss on average). ``check`` (notebook 10's summary) adds how well this predicted the measured
    transfer on this profile.
    """
    clinical = resolve_groups(load_grouping("clinical"))
    rows = []
    for t in tasks:
        if t not in matrix.index:
            rows.append({"task": t, "affinity_recommendation": "no affinity",
                         "affinity_evidence": f"{t} was not in {source}: run one short affinity run with it "
                                              f"(python -m m2dino advise ... probe=true), not a full training"})
            continue
        group = next(g for g, ids in clinical.items() if t in ids)
        cg = predicted_transfer(matrix, {group: clinical[group]}, weights).set_index("task")["predicted"].get(t)
        au = predicted_transfer(matrix, {"all": list(matrix.index)}, weights).set_index("task")["predicted"][t]
        onto = {g: predicted_transfer(matrix, {g: [*others, t]}, weights).set_index("task")["predicted"][t]
                for g, ids in clinical.items() if (others := [i for i in ids if i != t and i in matrix.index])}
        onto = {g: v for g, v in onto.items() if np.isfinite(v)}
        best = max(onto, key=lambda g: onto[g]) if onto else None
        cg_ok = cg is not None and np.isfinite(cg)
        if au >= 0 and (not cg_ok or au >= cg):
            rec = "all-task"
        elif cg_ok and cg >= 0:
            rec = "clinical-group"
        else:
            rec = "single"
        why = [f"{estimator} affinity from {source}: predicted transfer from its clinical group ({group}) "
               + (f"{cg:+.3g}" if cg_ok else "n/a (alone in it)") + f", from all tasks {au:+.3g}"
               + (f"; most helpful group: {best} ({onto[best]:+.3g})" if best else "")]
        if check is not None and len(check):
            c = check[check["estimator"] == estimator]
            why += [f"on this profile it ranked the measured {NAMES_P.get(r.paradigm, r.paradigm)} transfer with "
                    f"Spearman ρ {r.spearman:+.2f} [{r.ci_low:+.2f}, {r.ci_high:+.2f}]" for r in c.itertuples()]
        else:
            why.append("not yet checked against measured transfer (notebook 10)")
        rows.append({"task": t, "affinity_cg": cg, "affinity_au": au, "affinity_best_group": best,
                     "affinity_recommendation": rec, "affinity_evidence": "; ".join(why)})
    return pd.DataFrame(rows)


NAMES_P = {"clinical": "CG", "all": "AU"}
