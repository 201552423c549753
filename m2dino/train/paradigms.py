"""The three paradigms as loops over units: train (or load) every unit of ``cfg.paradigm``, then gather results.

The units come from :func:`m2dino.grouping.paradigm_units`: 27 tasks for ``single``, one per group for ``clinical``,
one for ``all``. Everything else (backbone, input size, preprocessing, optimiser, schedule, per-task exposure) is
the same config in every paradigm.
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig

from m2dino.grouping import paradigm_units
from m2dino.paths import parse_run_path
from m2dino.train.run import default_data, default_model, run_unit


def run_paradigm(cfg: DictConfig, progress: bool = True, make_model=default_model,
                 make_data=default_data) -> list[Path]:
    """Train, or load from cache, every unit of ``cfg.paradigm`` for ``cfg.seed``; return the run folders."""
    units = paradigm_units(cfg)
    if not units:
        raise ValueError(f"paradigm {cfg.paradigm.name!r} has no unit left after unit={cfg.get('unit')!r}, "
                         f"tasks={cfg.get('tasks')!r}")
    return [run_unit(cfg, unit, ids, progress=progress, make_model=make_model, make_data=make_data)
            for unit, ids in units.items()]


def ensure_data(cfg: DictConfig) -> Path:
    """The dataset folder of ``cfg``, generated first (idempotently) when the source is synthetic."""
    from m2dino.paths import data_root

    root = data_root(cfg)
    if cfg.data.source == "synthetic":
        from m2dino.synth.generate import write_dataset

        write_dataset(cfg, root)
    elif not root.is_dir():
        raise FileNotFoundError(f"no dataset at data.root={root}")
    return root


def run_seeds(cfg: DictConfig, progress: bool = True, **kw) -> list[Path]:
    """:func:`run_paradigm` for every seed of ``cfg.profile.seeds``; the run folders of all of them."""
    paths = []
    for seed in cfg.profile.seeds:
        c = cfg.copy()
        c.seed = int(seed)
        paths += run_paradigm(c, progress=progress, **kw)
    return paths


def collect_logs(paths: Iterable[Path | str]) -> pd.DataFrame:
    """The ``train_log.csv`` of each run folder, with ``paradigm``, ``unit`` and ``seed`` columns."""
    frames = []
    for d in map(Path, paths):
        f = d / "train_log.csv"
        if f.exists():
            where = parse_run_path(d, d.parents[2])  # paradigm, unit and seed; the experiment is not needed here
            frames.append(pd.read_csv(f).assign(paradigm=where["paradigm"], unit=where["unit"], seed=where["seed"]))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
