"""What is trained and what is current: the plans of ``m2dino.study.plans`` turned into runs, trained in one pool
where they are not finished, and every run of a profile judged against the config it would have today.

A planned run is *finished* when its folder's ``DONE`` holds the hash of today's config for it; otherwise it is
missing, partial or *stale* (finished under another config or code version), and :func:`ensure_plans` trains it
(a stale one from scratch, named with what differs). :func:`current` is the runs table the analysis reads: only its
finished rows are ever read (``m2dino.runs``, docs/run-folder.md).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig

from m2dino import runs
from m2dino.config import load
from m2dino.grouping import paradigm_units
from m2dino.paths import results_dir
from m2dino.study.plans import Plan, Seeds, profile_plans


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


def planned(profile: str, plans: Sequence[tuple[Plan, Seeds]], extra: Sequence[str] = ()
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


def ensure_plans(profile: str, plans: Sequence[tuple[Plan, Seeds]], extra: Sequence[str] = (),
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


def runs_root(profile: str, extra: Sequence[str] = ()) -> Path:
    """``results/<profile>`` (``results_dir=`` in ``extra`` moves it)."""
    return results_dir(load([f"profile={profile}", *extra]))


STALE_COLUMN = "why"  # the current table's column naming what differs, for stale planned runs


def current(profile: str, extra: Sequence[str] = (),
            plans: Sequence[tuple[Plan, Seeds]] | None = None, quiet: bool = False) -> pd.DataFrame:
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
