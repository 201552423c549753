"""The budget ladder: training settings chosen on val, never on test (the fine-tuning budget ``train.epochs``, the
batch size, the step floor).

Each candidate value trains the paradigms of the main experiment (TS, CG, AU, or a subset) for one seed; each run's
model selection already scores val with the mean headroom score s over its tasks (``best_val_score`` in
``run.json``). Per value and paradigm we report the task-weighted mean val s, the val Δs of CG and AU against TS, the
optimiser steps and the training time. The rule (:func:`choose`): against the current value (the reference), the
cheapest value (least training time) whose mean val s is within ``tol`` of the reference's for every paradigm, and
whose val Δs of CG and AU is within ``tol`` of the reference's, so a cheaper setting may neither lose accuracy nor
move the comparison the study is about.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from m2dino import runs
from m2dino.study.schedule import ensure_runs

PARADIGMS = ("single", "clinical", "all")


def experiment_name(key: str, value: int | float) -> str:
    """``budget/e6`` for ``train.epochs=6``, ``budget/batch_size16`` for ``train.batch_size=16``."""
    return f"budget/e{value:g}" if key == "train.epochs" else f"budget/{key.rsplit('.', 1)[-1]}{value:g}"


def train_values(profile: str, key: str, values: Sequence[float], seed: int, paradigms: Sequence[str] = PARADIGMS,
                 extra: Sequence[str] = (), progress: bool = False) -> dict[float, list[Path]]:
    """Train (or reuse) ``paradigms`` at each value of ``key`` for ``seed``; return the run folders per value."""
    plan = {v: [[f"paradigm={p}", f"experiment={experiment_name(key, v)}", f"{key}={v:g}"] for p in paradigms]
            for v in values}
    flat = [o for v in sorted(plan) for o in plan[v]]  # one pool for every value: the cores stay busy
    ensure_runs(profile, flat, extra=extra, progress=progress, seeds=[seed])
    return {v: ensure_runs(profile, plan[v], extra=extra, seeds=[seed]) for v in plan}


def val_table(folders: dict[float, list[Path]]) -> pd.DataFrame:
    """Per value and paradigm: units, tasks, the task-weighted mean val s, its val Δs against TS, steps, time."""
    rows = []
    for v, dirs in folders.items():
        for d in dirs:
            meta, cfg = runs.read_run_json(d), runs.read_config(d)
            rows.append({"value": v, "paradigm": str(cfg["paradigm"]["name"]), "unit": str(cfg["unit"]),
                         "n_tasks": len(cfg["tasks"]), "val_s": float(meta["best_val_score"]),
                         "steps": int(meta["steps"]), "train_seconds": float(meta["train_seconds"])})
    units = pd.DataFrame(rows)
    units["weighted"] = units["val_s"] * units["n_tasks"]
    out = units.groupby(["value", "paradigm"], as_index=False).agg(
        units=("unit", "size"), tasks=("n_tasks", "sum"), weighted=("weighted", "sum"), steps=("steps", "sum"),
        train_seconds=("train_seconds", "sum"))
    out["val_s"] = out.pop("weighted") / out["tasks"]
    ts = out[out["paradigm"] == "single"].set_index("value")["val_s"]
    out["val_delta_s"] = out["value"].map(ts).rsub(out["val_s"]) if len(ts) else float("nan")
    return out


def choose(table: pd.DataFrame, reference: float, tol: float = 0.02) -> float:
    """The cheapest value within ``tol`` of ``reference`` on every paradigm's val s and on the val Δs of CG and AU."""
    ref = table[table["value"] == reference].set_index("paradigm")
    if ref.empty:
        raise ValueError(f"the reference value {reference:g} was not trained; trained: {sorted(table['value'])}")
    cost = table.groupby("value")["train_seconds"].sum().sort_values()
    for v in cost.index:
        cur = table[table["value"] == v].set_index("paradigm")
        s_ok = ((ref["val_s"] - cur["val_s"]) <= tol).all()
        d_ok = ((cur["val_delta_s"] - ref["val_delta_s"]).abs() <= tol).fillna(True).all()
        if s_ok and d_ok:
            return float(v)
    return float(reference)
