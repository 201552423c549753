"""The runs the analysis needs, as override lists for the trainer, and a launcher that trains only what is missing.

- ``main``: TS, CG and AU over the 27 tasks.
- ``data_scale/frac<f>``: for a data-rich group (obstetrics) and a data-scarce one (breast), TS and CG on that group's
  tasks and AU on all 27 tasks, each with ``data.fraction=f`` of every task's training split (the test sets are
  unchanged). The AU runs are shared by both groups. Fraction 1.0 is the main experiment, not retrained.
  Optimiser steps are held constant across fractions: a run at fraction f trains ``epochs / f`` epochs and validates
  every ``eval_every / f`` epochs, so that a smaller training set is not also a shorter training (which would
  confound data scale with budget).
- ``ablation_dense``: AU with the MoE switched off (``model.moe.enabled=false``).
- ``fmc_baseline``: AU with the challenge's baseline architecture (``model=fmc_baseline``).
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from m2dino.config import load
from m2dino.grouping import load_grouping, resolve_groups
from m2dino.paths import results_dir

DATA_SCALE_GROUPS = ("obstetrics", "breast")


def data_scale_name(fraction: float) -> str:
    return f"data_scale/frac{fraction:g}"


def main_plan() -> list[list[str]]:
    return [[f"paradigm={p}"] for p in ("single", "clinical", "all")]


def _task_list(ids: Sequence[str]) -> str:
    return "[" + ",".join(ids) + "]"


def constant_steps(fraction: float, epochs: int, eval_every: int) -> list[str]:
    """Overrides that keep a run at ``fraction`` of the training data at the full data's optimiser steps and
    validation points: epochs x 1/fraction, eval_every x 1/fraction (rounded)."""
    return [f"train.epochs={max(1, round(epochs / fraction))}",
            f"train.eval_every={max(1, round(eval_every / fraction))}"]


def data_scale_plan(fractions: Sequence[float], groups: Sequence[str] = DATA_SCALE_GROUPS,
                    au_tasks: str = "all", *, profile: str) -> list[list[str]]:
    """Override lists of the data-scale experiment (fractions < 1 only; 1.0 is the main experiment), each at the
    profile's full-data optimiser steps (:func:`constant_steps`).

    ``au_tasks="all"`` trains AU on the 27 tasks at each fraction (the study's AU); ``"groups"`` only on the groups'
    tasks (a cheap stand-in for the smoke profile, where it coincides with CG for a single group).
    """
    if au_tasks not in ("all", "groups"):
        raise ValueError(f"au_tasks must be 'all' or 'groups', got {au_tasks!r}")
    clinical = resolve_groups(load_grouping("clinical"))
    unknown = [g for g in groups if g not in clinical]
    if unknown:
        raise KeyError(f"unknown clinical groups {unknown}; known: {sorted(clinical)}")
    train = load([f"profile={profile}"]).train
    plan = []
    for f in sorted(set(fractions)):
        if not 0 < f < 1:
            continue
        base = [f"experiment={data_scale_name(f)}", f"data.fraction={f:g}",
                *constant_steps(f, int(train.epochs), int(train.eval_every))]
        for g in groups:
            plan.append(base + ["paradigm=single", f"tasks={_task_list(clinical[g])}"])
            plan.append(base + ["paradigm=clinical", f"unit={g}"])
        au = [] if au_tasks == "all" else [f"tasks={_task_list([t for g in groups for t in clinical[g]])}"]
        plan.append(base + ["paradigm=all", *au])
    return plan


def side_plan(tasks: Sequence[str] | None = None, baseline_encoder: str | None = None) -> list[list[str]]:
    """The dense ablation and the challenge baseline, all-task; ``tasks`` restricts both (the smoke profile) and
    ``baseline_encoder`` swaps the baseline's EfficientNet-B4 for a smaller smp encoder (the CPU profiles)."""
    extra = [f"tasks={_task_list(tasks)}"] if tasks else []
    encoder = [f"model.encoder={baseline_encoder}"] if baseline_encoder else []
    return [["experiment=ablation_dense", "paradigm=all", "model.moe.enabled=false", *extra],
            ["experiment=fmc_baseline", "paradigm=all", "model=fmc_baseline", *encoder, *extra]]


def expected_run_dirs(cfg) -> list[Path]:
    """Run folders a config will produce: one per unit and profile seed."""
    from m2dino.grouping import paradigm_units

    exp = cfg.get("experiment") or "main"
    base = results_dir(cfg) / ("" if exp == "main" else exp) / cfg.paradigm.name
    return [base / unit / f"seed{s}" for unit in paradigm_units(cfg) for s in cfg.profile.seeds]


def ensure_runs(profile: str, plan: Sequence[Sequence[str]], extra: Sequence[str] = (), progress: bool = False,
                ) -> list[Path]:
    """Train every entry of ``plan`` (override lists) whose run folders are not finished (``DONE``), for each seed of
    the profile; return all the plan's run folders. Finished runs are only read, never retrained."""
    from m2dino.train.paradigms import ensure_data, run_configs

    dirs: list[Path] = []
    data_ready = False
    for overrides in plan:
        cfg = load([f"profile={profile}", *overrides, *extra])
        todo, want = [], {}
        for seed in cfg.profile.seeds:
            cfg_s = load([f"profile={profile}", *overrides, *extra, f"seed={seed}"])
            want[seed] = [d for d in expected_run_dirs(cfg_s) if d.name == f"seed{seed}"]
            if not all((d / "DONE").exists() for d in want[seed]):
                todo.append(cfg_s)
        if todo:
            if not data_ready:  # generate the synthetic data once (idempotent; a no-op when it exists)
                ensure_data(todo[0])
                data_ready = True
            run_configs(todo, progress=progress)  # every seed's units at once: runtime.unit_workers share them
        for seed, seed_dirs in want.items():
            missing = [d for d in seed_dirs if not (d / "metrics.csv").exists()]
            if missing:
                raise RuntimeError(f"training {overrides} (seed {seed}) left no metrics.csv in {missing[0]}")
            dirs += seed_dirs
    return dirs
