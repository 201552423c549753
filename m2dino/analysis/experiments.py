"""The runs the analysis needs, as override lists for the trainer, and a launcher that trains only what is missing.

- ``main``: TS, CG and AU over the 27 tasks.
- ``data_scale/frac<f>``: for a data-rich group (obstetrics) and a data-scarce one (breast), TS and CG on that group's
  tasks and AU on all 27 tasks (``analysis.yaml: data_scale_au_tasks``), each with ``data.fraction=f`` of every task's training split (the test sets are
  unchanged). The AU runs are shared by both groups. Fraction 1.0 is the main experiment, not retrained.
  Optimiser steps are held constant across fractions: a run at fraction f trains ``epochs / f`` epochs and validates
  every ``eval_every / f`` epochs, so that a smaller training set is not also a shorter training (which would
  confound data scale with budget).
- ``ablation_dense``: AU with the MoE switched off (``model.moe.enabled=false``).
- ``fmc_baseline``: AU with the challenge's baseline architecture (``model=fmc_baseline``).

The ablation and the baseline run on the seeds of ``side_seeds`` (``conf/analysis.yaml``; no verdict reads them).
The A/A check's TS-only seeds (``aa_extra_seeds``) run beside the main experiment (:func:`aa_runs`).
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from m2dino.config import load
from m2dino.grouping import load_grouping, resolve_groups
from m2dino.paths import MAIN, results_dir, run_path

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
    tasks (a cheap stand-in for the smoke profile, where it coincides with CG for a single group); ``"none"`` trains no
    AU at reduced fractions: no claim reads them (``scale_dependence`` is CG against TS, docs/analysis.md), only the
    descriptive guideline and the advisor would, and at the demo they cost more than all of TS, CG and AU together.
    """
    if au_tasks not in ("all", "groups", "none"):
        raise ValueError(f"au_tasks must be 'all', 'groups' or 'none', got {au_tasks!r}")
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
        if au_tasks != "none":
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


Plan = Sequence[Sequence[str]]


def side_runs(profile: str) -> tuple[list[list[str]], list[int] | None]:
    """The side plan as the profile's analysis settings ask (``side_tasks``, ``baseline_encoder``), with its seeds
    (``side_seeds``; None: the profile's), for :func:`ensure_plans`."""
    from m2dino.analysis.settings import settings

    st = settings(profile)
    seeds = None if st.side_seeds is None else [int(s) for s in st.side_seeds]
    return side_plan(st.side_tasks, st.baseline_encoder), seeds


def aa_runs(profile: str) -> tuple[list[list[str]], list[int]]:
    """The TS-only seeds of the A/A check (``aa_extra_seeds``, on the tasks of ``aa_tasks``; conf/analysis.yaml), as
    a plan and its seeds for :func:`ensure_plans`: with the profile's seeds they make the 4+ TS seeds the check
    splits in two arms (``m2dino.analysis.aa_check``). No seeds: an empty plan."""
    from m2dino.analysis.settings import settings

    st = settings(profile)
    seeds = [int(s) for s in (st.aa_extra_seeds or [])]
    if not seeds:
        return [], []
    return [["paradigm=single", *([f"tasks={_task_list(st.aa_tasks)}"] if st.aa_tasks else [])]], seeds


def expected_run_dirs(cfg, seeds: Sequence[int] | None = None) -> list[Path]:
    """Run folders a config will produce: one per unit and seed (``seeds``; default the profile's)."""
    from m2dino.grouping import paradigm_units

    exp = cfg.get("experiment") or MAIN
    return [run_path(results_dir(cfg), cfg.paradigm.name, unit, s, exp)
            for unit in paradigm_units(cfg) for s in (cfg.plan.seeds if seeds is None else seeds)]


def ensure_runs(profile: str, plan: Plan, extra: Sequence[str] = (), progress: bool = False,
                seeds: Sequence[int] | None = None) -> list[Path]:
    """Train every entry of ``plan`` (override lists) whose run folders are not finished (``DONE``), for each seed of
    the profile (or of ``seeds``); return all the plan's run folders. Finished runs are only read, never retrained."""
    return ensure_plans(profile, [(plan, seeds)], extra, progress)


def _longest_first(cfg) -> tuple[int, int]:
    """Pool order: the challenge baseline (the slowest unit per step), then all-task, clinical, single units."""
    family = 0 if cfg.model.get("name") == "fmc_baseline" else 1
    return family, {"all": 0, "clinical": 1, "single": 2}.get(cfg.paradigm.name, 3)


def ensure_plans(profile: str, plans: Sequence[tuple[Plan, Sequence[int] | None]], extra: Sequence[str] = (),
                 progress: bool = False) -> list[Path]:
    """:func:`ensure_runs` for several plans, each with its seeds (None: the profile's), in one pool.

    Every missing run of every plan goes to the unit pool at once, the longest units first, so ``runtime.unit_workers``
    processes stay busy until the end (notebook 03 trains the main experiment and the side runs of notebook 08 so)."""
    from m2dino.data.source import ensure_data
    from m2dino.train.paradigms import run_configs

    todo, want = [], []
    for plan, seeds in plans:
        for overrides in plan:
            cfg = load([f"profile={profile}", *overrides, *extra])
            for seed in (cfg.plan.seeds if seeds is None else seeds):
                cfg_s = load([f"profile={profile}", *overrides, *extra, f"seed={seed}"])
                dirs = expected_run_dirs(cfg_s, [seed])  # also a seed outside the profile's (aa_extra_seeds)
                want.append((overrides, seed, dirs))
                if not all((d / "DONE").exists() for d in dirs):
                    todo.append(cfg_s)
    if todo:
        ensure_data(todo[0])  # generate the synthetic data once (idempotent; a no-op when it exists)
        run_configs(sorted(todo, key=_longest_first), progress=progress)
    out: list[Path] = []
    for overrides, seed, dirs in want:
        missing = [d for d in dirs if not (d / "metrics.csv").exists()]
        if missing:
            raise RuntimeError(f"training {overrides} (seed {seed}) left no metrics.csv in {missing[0]}")
        out += dirs
    return out
