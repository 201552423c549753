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
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig

from m2dino import runs
from m2dino.config import load
from m2dino.grouping import load_grouping, resolve_groups

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


@dataclass(frozen=True)
class Planned:
    """One entry of a plan (its overrides) for one seed: its config and the runs it asks for, unit -> task ids, with
    the hash each run must have to count as finished today."""

    overrides: tuple[str, ...]
    cfg: DictConfig
    units: dict[str, list[str]]
    hashes: dict[str, str]

    @classmethod
    def of(cls, cfg: DictConfig, overrides: Sequence[str] = ()) -> Planned:
        from m2dino.grouping import paradigm_units

        units = {u: list(ids) for u, ids in paradigm_units(cfg).items()}
        return cls(tuple(overrides), cfg, units, runs.unit_hashes(cfg, units))

    def paths(self) -> dict[str, Path]:
        return {u: runs.run_dir(self.cfg, u) for u in self.units}

    def states(self) -> dict[str, str]:
        return {u: runs.state(d, self.hashes[u]) for u, d in self.paths().items()}

    def why_stale(self, unit: str) -> str:
        return "; ".join(runs.differences(self.paths()[unit], runs.run_config(self.cfg, unit, self.units[unit])))


def expected_run_dirs(cfg) -> list[Path]:
    """Run folders a config will produce: one per unit, for ``cfg.seed``."""
    return list(Planned.of(cfg).paths().values())


def ensure_runs(profile: str, plan: Plan, extra: Sequence[str] = (), progress: bool = False,
                seeds: Sequence[int] | None = None) -> list[Path]:
    """Train every entry of ``plan`` (override lists) whose runs are not finished under today's config, for each seed
    of the profile (or of ``seeds``); return all the plan's run folders. Finished runs are only read, never
    retrained; stale ones (finished under another config or code version) are retrained."""
    return ensure_plans(profile, [(plan, seeds)], extra, progress)


def _longest_first(cfg) -> tuple[int, int]:
    """Pool order: the challenge baseline (the slowest unit per step), then all-task, clinical, single units."""
    family = 0 if cfg.model.get("name") == "fmc_baseline" else 1
    return family, {"all": 0, "clinical": 1, "single": 2}.get(cfg.paradigm.name, 3)


def planned(profile: str, plans: Sequence[tuple[Plan, Sequence[int] | None]], extra: Sequence[str] = ()
            ) -> list[Planned]:
    """Every entry of ``plans`` for each of its seeds (None: the profile's), with the runs it asks for."""
    out = []
    for plan, seeds in plans:
        for overrides in plan:
            cfg = load([f"profile={profile}", *overrides, *extra])
            for seed in (cfg.plan.seeds if seeds is None else seeds):
                cfg_s = cfg.copy()
                cfg_s.seed = int(seed)
                out.append(Planned.of(cfg_s, overrides))
    return out


def ensure_plans(profile: str, plans: Sequence[tuple[Plan, Sequence[int] | None]], extra: Sequence[str] = (),
                 progress: bool = False) -> list[Path]:
    """:func:`ensure_runs` for several plans, each with its seeds (None: the profile's), in one pool.

    Every run of every plan that is not finished under today's config (missing, partial or stale) goes to the unit
    pool at once, the longest units first, so ``runtime.unit_workers`` processes stay busy until the end (notebook 03
    trains the main experiment and the side runs of notebook 08 so). Stale runs are named, with what differs."""
    from m2dino.synth.source import ensure_data
    from m2dino.train.paradigms import run_configs

    want = planned(profile, plans, extra)
    todo = []
    for p in want:
        states = p.states()
        if any(st != runs.FINISHED for st in states.values()):
            todo.append(p.cfg)
        stale = [u for u, st in states.items() if st == runs.STALE]
        if stale:
            print(f"retraining {len(stale)} stale run(s) of {' '.join(p.overrides) or 'the main plan'} seed "
                  f"{p.cfg.seed} ({', '.join(stale[:3])}{', ...' if len(stale) > 3 else ''}): {p.why_stale(stale[0])}",
                  flush=True)
    if todo:
        ensure_data(todo[0])  # generate the synthetic data once (idempotent; a no-op when it exists)
        run_configs(sorted(todo, key=_longest_first), progress=progress)
    out: list[Path] = []
    for p in want:
        missing = [u for u, st in p.states().items() if st != runs.FINISHED]
        if missing:
            raise RuntimeError(f"training {list(p.overrides)} (seed {p.cfg.seed}) did not finish "
                               f"{p.paths()[missing[0]]}")
        out += list(p.paths().values())
    return out


def profile_plans(profile: str, extra: Sequence[str] = ()) -> list[tuple[Plan, Sequence[int] | None]]:
    """Every plan a reproduction of ``profile`` runs, with its seeds: the main experiment, the side runs, the
    data-scale experiment and, once notebook 10 has found them, CG on the affinity groups."""
    from m2dino.analysis import affinity as A
    from m2dino.analysis.settings import settings
    from m2dino.grouping import read_grouping_file, resolve_groups

    st = settings(profile)
    plans = [(main_plan(), None), side_runs(profile),
             (data_scale_plan(st.data_scale_fractions, st.data_scale_groups, au_tasks=st.data_scale_au_tasks,
                              profile=profile), None)]
    grouping = runs_root(profile, extra) / "groupings" / f"{A.GROUPING_NAME}.yaml"
    if grouping.is_file():
        groups = resolve_groups(read_grouping_file(grouping))
        seeds = None if st.affinity_group_seeds is None else [int(s) for s in st.affinity_group_seeds]
        plans.append((A.groups_plan(grouping, groups), seeds))
    return plans


def runs_root(profile: str, extra: Sequence[str] = ()) -> Path:
    """``results/<profile>`` (``results_dir=`` in ``extra`` moves it)."""
    from m2dino.paths import results_dir

    return results_dir(load([f"profile={profile}", *extra]))


STALE_COLUMN = "why"  # the current table's column naming what differs, for stale planned runs


def current(profile: str, extra: Sequence[str] = (),
            plans: Sequence[tuple[Plan, Sequence[int] | None]] | None = None, quiet: bool = False) -> pd.DataFrame:
    """The runs of ``results/<profile>`` as one table (``m2dino.runs.discover``), every planned run judged against
    the config it would have today (so a run trained before a key's default changed in the YAML is stale), the
    planned runs not started yet listed as planned, and for stale planned runs what differs (column ``why``). Runs
    outside every plan are judged by their own config under today's code. ``plans``: None, every plan of the profile
    (:func:`profile_plans`). The analysis reads the finished rows of this table, never the stale ones, which are
    printed with what differs (``quiet``: not printed)."""
    want = planned(profile, profile_plans(profile, extra) if plans is None else plans, extra)
    by_path = {d: (p, u) for p in want for u, d in p.paths().items()}
    table = runs.discover(runs_root(profile, extra), expected={d: p.hashes[u] for d, (p, u) in by_path.items()})
    table[STALE_COLUMN] = [by_path[Path(d)][0].why_stale(by_path[Path(d)][1])
                           if st == runs.STALE and Path(d) in by_path else "" for d, st in zip(table["path"],
                                                                                           table["state"])]
    if not quiet and (note := stale_note(table)):
        print(note, flush=True)
    return table


def stale_note(table: pd.DataFrame) -> str:
    """One line per stale run of a :func:`current` table (empty when none): what is not read, and why."""
    stale = table[table["state"] == runs.STALE]
    return "\n".join(f"not read (stale): {r.path}: {getattr(r, STALE_COLUMN, '') or 'finished under older code'}"
                     for r in stale.itertuples())
