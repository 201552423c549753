"""What a reproduction cost, read back from its own files: each training unit's time (``run.json``) and each
executed notebook's time (papermill's metadata in ``results/<profile>/notebooks/``).

Nothing here is estimated. A unit's ``train_seconds`` is the wall time of its training loop in its own process (one
torch thread at the CPU profiles), validations included; ``total_seconds`` adds building the model and scoring the test
split. Their sum over every unit, divided by the processes that trained side by side (``runtime.unit_workers``), is
the least wall time the units could have taken had every process been busy to the end: a floor set by the work, not
by the schedule, and the figure to beat before a time goal can be met (:func:`unit_floor`).

The same work projected onto more cores (:func:`projected_wall`, printed by ``python -m m2dino costs`` for 4, 8 and 16
cores): each unit occupies its ``torch_threads`` cores for its measured ``total_seconds``, so ``cores // threads``
units run side by side, and no schedule can finish before the work spread evenly over them, nor before the longest
unit ends: the projection is the larger of the two. It assumes a unit takes as long beside others as it did here
(same per-core speed, no contention for memory), and it counts the units only: data generation, pretraining and the
analysis come on top.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from m2dino import runs

UNIT_COLUMNS = ["experiment", "paradigm", "runs", "seeds", "steps", "train_seconds", "total_seconds", "ms_per_step",
                "share"]
NOTEBOOK_COLUMNS = ["notebook", "seconds", "start_time", "end_time"]


def run_costs(profile_root: Path) -> pd.DataFrame:
    """One row per finished run folder below ``profile_root`` (``results/<profile>``): experiment, paradigm, unit,
    seed, steps, train_seconds, total_seconds. Folders that are not run folders (pretraining, tables), partial and
    stale runs are skipped.

    Raises:
        ValueError: a ``run.json`` that is not JSON or lacks a timing field, naming the file.
    """
    rows, table = [], runs.discover(profile_root)
    for r in table[table["state"] == runs.FINISHED].itertuples():
        try:
            meta = runs.read_run_json(r.path)
            rows.append({"experiment": r.experiment, "paradigm": r.paradigm, "unit": r.unit, "seed": r.seed,
                         "steps": int(meta["steps"]), "train_seconds": float(meta["train_seconds"]),
                         "total_seconds": float(meta["total_seconds"]), "threads": int(meta.get("torch_threads", 1))})
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{Path(r.path) / runs.RUN_JSON}: not a run's timing record (steps, train_seconds, "
                             f"total_seconds): {e!r}") from e
    return pd.DataFrame(rows, columns=["experiment", "paradigm", "unit", "seed", "steps", "train_seconds",
                                       "total_seconds", "threads"])


def cost_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per experiment and paradigm: runs, seeds, optimiser steps, unit seconds (training; with test scoring),
    ms per step and the share of all unit seconds; the most expensive first."""
    if runs.empty:
        return pd.DataFrame(columns=UNIT_COLUMNS)
    out = runs.groupby(["experiment", "paradigm"], as_index=False).agg(
        runs=("unit", "size"), seeds=("seed", "nunique"), steps=("steps", "sum"),
        train_seconds=("train_seconds", "sum"), total_seconds=("total_seconds", "sum"))
    out["ms_per_step"] = 1000 * out["train_seconds"] / out["steps"].clip(lower=1)
    out["share"] = out["total_seconds"] / out["total_seconds"].sum()
    return out.sort_values("total_seconds", ascending=False, ignore_index=True)[UNIT_COLUMNS]


def unit_floor(runs: pd.DataFrame, workers: int) -> float:
    """The least wall time, in seconds, in which ``workers`` processes could have trained and scored every unit:
    the sum of the units' ``total_seconds`` over the workers (each unit measured as it ran, beside the others)."""
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    return float(runs["total_seconds"].sum()) / workers if len(runs) else 0.0


PROJECTED_CORES = (4, 8, 16)  # the machines `costs` projects the units' work onto


def projected_wall(runs: pd.DataFrame, cores: int) -> float:
    """The least wall time, in seconds, in which ``cores`` cores could train and score every unit of ``runs``: the
    larger of the units' ``total_seconds`` spread evenly over ``cores // threads`` processes (``threads``: the most
    torch threads a unit used) and the longest unit (module docstring)."""
    if not len(runs):
        return 0.0
    threads = max(1, int(runs["threads"].max())) if "threads" in runs else 1
    if cores < threads:
        raise ValueError(f"{cores} cores cannot run a unit of {threads} threads")
    return max(float(runs["total_seconds"].sum()) / (cores // threads), float(runs["total_seconds"].max()))


def notebook_times(notebook_dir: Path) -> pd.DataFrame:
    """Each executed notebook in ``notebook_dir`` with papermill's duration of it (kernel start not included) and
    when it started and ended. A notebook papermill did not finish has no duration and is left out.

    Raises:
        ValueError: a notebook that is not JSON, naming the file.
    """
    rows = []
    for nb in sorted(Path(notebook_dir).glob("*.ipynb")):
        try:
            pm = json.loads(nb.read_text()).get("metadata", {}).get("papermill", {})
        except json.JSONDecodeError as e:
            raise ValueError(f"{nb}: not a notebook (JSON): {e}") from e
        if pm.get("duration") is None:
            continue
        rows.append({"notebook": nb.name, "seconds": float(pm["duration"]), "start_time": pm.get("start_time"),
                     "end_time": pm.get("end_time")})
    return pd.DataFrame(rows, columns=NOTEBOOK_COLUMNS)
