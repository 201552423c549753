"""Which paradigm to train a task with — single (TS), clinical-group (CG) or all-task (AU) — fitted from runs.

For each of CG and AU, a linear model of the per-task change against TS (percent, positive = better) is fitted to every
measured (task, experiment) pair:  change ≈ b0 + b1 · log(n_train) + Σ_type b_type,  with segmentation as the
reference type. Its uncertainty comes from a bootstrap over tasks (all rows of a task move together). For a queried
task the advisor predicts both changes in every bootstrap fit; TS is 0 by definition. It recommends the paradigm that
is best in most fits and reports that share (``p_best``), the predicted changes with 90% intervals, the data the fit
used, and a warning when the query's training-set size lies outside the measured range. Nothing here is hand-written:
with no results it refuses.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from m2dino.analysis.change import task_changes
from m2dino.analysis.inference import task_resamples
from m2dino.analysis.tables import data_scale_changes
from m2dino.grouping import load_grouping, resolve_groups
from m2dino.registry import TASK_TYPES, get_task

PARADIGMS = ("clinical", "all")
NAMES = {"single": "single", "clinical": "clinical-group", "all": "all-task"}


class AdvisorError(ValueError):
    """The advisor cannot answer (no results, or a malformed request)."""


@dataclass(frozen=True)
class Query:
    """A task to advise on: a registry id, or a new task with its type and training-set size."""

    id: str
    type: str
    n_train: float | None  # None: take it from the runs (registry tasks only)
    known: bool


def read_queries(path: Path) -> list[Query]:
    """Tasks from a YAML file: ``tasks: [breast_lesion, {id: new, type: segmentation, n_train: 300}, ...]``."""
    path = Path(path)
    if not path.exists():
        raise AdvisorError(f"{path}: no such file")
    raw = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    items = raw.get("tasks") if isinstance(raw, dict) else raw
    if not isinstance(items, list) or not items:
        raise AdvisorError(f"{path}: expected a list under 'tasks:' (task ids or {{id, type, n_train}} entries)")
    out = []
    for i, it in enumerate(items, 1):
        if isinstance(it, str):
            try:
                t = get_task(it)
            except KeyError as e:
                raise AdvisorError(f"{path}, task {i}: {e.args[0]}; a new task needs id, type and n_train") from e
            out.append(Query(t.id, t.type, None, True))
            continue
        if not isinstance(it, dict) or "id" not in it:
            raise AdvisorError(f"{path}, task {i}: expected an id or a mapping with id, type, n_train; got {it!r}")
        typ, n = it.get("type"), it.get("n_train")
        known = True
        try:
            t = get_task(str(it["id"]))
            typ = typ or t.type
        except KeyError:
            known = False
        if typ not in TASK_TYPES:
            raise AdvisorError(f"{path}, task {i} ({it['id']}): type must be one of {TASK_TYPES}, got {typ!r}")
        if n is None and not known:
            raise AdvisorError(f"{path}, task {i} ({it['id']}): a new task needs n_train (training images)")
        if n is not None and (not isinstance(n, (int, float)) or n <= 0):
            raise AdvisorError(f"{path}, task {i} ({it['id']}): n_train must be a positive number, got {n!r}")
        out.append(Query(str(it["id"]), str(typ), None if n is None else float(n), known))
    return out


def _design(types: np.ndarray, n: np.ndarray, levels: list[str]) -> np.ndarray:
    cols = [np.ones(len(n)), np.log(n)] + [(types == lv).astype(float) for lv in levels[1:]]
    return np.column_stack(cols)


@dataclass
class Fit:
    """Bootstrap fits of change ~ log n_train + type, per paradigm."""

    levels: list[str]              # task types seen; the first is the reference
    coef: dict[str, np.ndarray]    # paradigm -> [n_boot + 1, p] (row 0: fit on all data)
    seen: np.ndarray               # [n_boot + 1, len(levels)]: type present in that resample
    n_range: tuple[float, float]
    type_tasks: dict[str, int]     # measured tasks per type
    n_rows: int
    n_tasks: int
    experiments: list[str]

    def predict(self, typ: str, n_train: float) -> dict[str, np.ndarray]:
        """Predicted change (percent) per paradigm in every fit; NaN in fits whose resample lacked the type."""
        x = _design(np.array([typ]), np.array([float(n_train)]), self.levels)[0]
        ok = self.seen[:, self.levels.index(typ)]
        return {p: np.where(ok, c @ x, np.nan) for p, c in self.coef.items()}


def fit(changes: pd.DataFrame, n_boot: int, seed: int = 0) -> Fit:
    """Fit the advisor's model to per-task changes (``m2dino.analysis.change`` tables, any experiments)."""
    d = changes[changes["paradigm"].isin(PARADIGMS)].dropna(subset=["change", "n_train"])
    # a clinical group of one task trains a task-specific model under another name: no evidence about grouping
    singletons = {ids[0] for ids in resolve_groups(load_grouping("clinical")).values() if len(ids) == 1}
    d = d[~((d["paradigm"] == "clinical") & d["task"].isin(singletons))]
    if d.empty:
        raise AdvisorError("no measured changes of CG or AU against TS: run the three paradigms first")
    levels = [t for t in TASK_TYPES if t in set(d["type"])]
    tasks = np.array(sorted(d["task"].unique()))
    picks = [np.arange(len(tasks)), *task_resamples(len(tasks), n_boot, seed)]
    coef = {p: [] for p in PARADIGMS if (d["paradigm"] == p).any()}
    seen = []
    by_task = {t: d[d["task"] == t] for t in tasks}
    for pick in picks:
        s = pd.concat([by_task[tasks[k]] for k in pick], ignore_index=True)
        seen.append([lv in set(s["type"]) for lv in levels])
        for p in coef:
            sp = s[s["paradigm"] == p]
            if len(sp) == 0:
                coef[p].append(np.full(len(levels) + 1, np.nan))
                continue
            X = _design(sp["type"].to_numpy(), sp["n_train"].to_numpy(float), levels)
            coef[p].append(np.linalg.lstsq(X, sp["change"].to_numpy(float), rcond=None)[0])
    return Fit(levels, {p: np.array(v) for p, v in coef.items()}, np.array(seen),
               (float(d["n_train"].min()), float(d["n_train"].max())),
               d.groupby("type")["task"].nunique().to_dict(), len(d), len(tasks),
               sorted(d["experiment"].unique()))


def effects(f: Fit) -> pd.DataFrame:
    """The fitted effects with 90% bootstrap intervals: log n_train slope and each type against the reference."""
    names = ["intercept", "log n_train"] + [f"type={lv} (vs {f.levels[0]})" for lv in f.levels[1:]]
    rows = []
    for p, c in f.coef.items():
        for j, nm in enumerate(names):
            b = c[1:, j][np.isfinite(c[1:, j])]
            lo, hi = (np.percentile(b, [5, 95]) if len(b) else (np.nan, np.nan))
            rows.append({"paradigm": NAMES[p], "effect": nm, "estimate": c[0, j], "ci90_low": lo, "ci90_high": hi})
    return pd.DataFrame(rows)


def advise(changes: pd.DataFrame, queries: list[Query], n_boot: int, seed: int = 0) -> pd.DataFrame:
    """One recommendation per query with its evidence (see the module docstring)."""
    if not queries:
        raise AdvisorError("no tasks to advise on")
    f = fit(changes, n_boot, seed)
    main_n = changes[changes["experiment"] == "main"].groupby("task")["n_train"].mean()
    rows = []
    for q in queries:
        row = {"task": q.id, "type": q.type, "n_train": q.n_train}
        n = q.n_train if q.n_train is not None else main_n.get(q.id)
        if n is None or not np.isfinite(n):
            rows.append({**row, "recommendation": "refused",
                         "evidence": f"{q.id} has no main-experiment runs to take n_train from; give n_train"})
            continue
        row["n_train"] = float(n)
        if q.type not in f.levels:
            rows.append({**row, "recommendation": "refused",
                         "evidence": f"no results for {q.type} tasks (measured types: {', '.join(f.levels)})"})
            continue
        pred = f.predict(q.type, n)
        ok = np.all([np.isfinite(v) for v in pred.values()], axis=0)
        ok[0] = True
        stack = np.column_stack([np.zeros(ok.sum())] + [pred[p][ok] for p in f.coef])
        names = ["single"] + list(f.coef)
        wins = np.bincount(np.argmax(stack[1:], axis=1), minlength=len(names)) / max(len(stack) - 1, 1)
        best = names[int(np.argmax(wins))]
        for p in f.coef:
            row[f"{p}_change"] = pred[p][0]
            row[f"{p}_ci90_low"], row[f"{p}_ci90_high"] = np.percentile(pred[p][ok][1:], [5, 95])
        for k, nm in enumerate(names):
            row[f"p_best_{nm}"] = float(wins[k])
        notes = [f"fit on {f.n_rows} (task, experiment) changes from {f.n_tasks} tasks, experiments "
                 f"{', '.join(f.experiments)}"]
        k = f.type_tasks.get(q.type, 0)
        if k < 3:
            notes.append(f"weak: only {k} measured {q.type} task(s)")
        if not (f.n_range[0] <= n <= f.n_range[1]):
            notes.append(f"extrapolation: n_train {n:g} outside the measured {f.n_range[0]:g}-{f.n_range[1]:g}")
        row.update(recommendation=NAMES[best], p_best=float(wins[names.index(best)]), evidence="; ".join(notes))
        rows.append(row)
    return pd.DataFrame(rows)


def measured_changes(tidy: pd.DataFrame) -> pd.DataFrame:
    """Point changes against TS of the main and data-scale experiments (no intervals: the fit has its own)."""
    parts = []
    have = set(tidy.loc[tidy["experiment"] == "main", "paradigm"])
    if "single" in have and have & {"clinical", "all"}:
        parts.append(task_changes(tidy, "main", bootstrap=False))
    ds = data_scale_changes(tidy, 0, bootstrap=False)
    if len(ds):
        parts.append(ds[ds["experiment"] != "main"])
    if not parts:
        raise AdvisorError("no experiment has TS runs next to CG or AU runs: nothing to fit")
    return pd.concat(parts, ignore_index=True)
