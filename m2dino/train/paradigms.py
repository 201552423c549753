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

from m2dino import provenance
from m2dino.grouping import paradigm_units
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


def _run_folders(where: Path | str | Iterable[Path | str]) -> list[Path]:
    if isinstance(where, (str, Path)):
        root = Path(where)
        return sorted(p.parent for p in root.rglob("DONE")) if root.is_dir() else []
    return [Path(p) for p in where]


def collect_metrics(where: Path | str | Iterable[Path | str]) -> pd.DataFrame:
    """All ``metrics.csv`` of finished runs under a results folder (or in the given run folders), in one table.

    Adds ``experiment`` (the folder level between profile and paradigm, ``main`` if none) and ``run_dir``. The
    trivial predictor's rows, written by every run, appear once per (experiment, seed, task, metric).
    """
    frames = []
    for d in _run_folders(where):
        f = d / "metrics.csv"
        if not (d / "DONE").exists() or not f.exists():
            continue
        df = pd.read_csv(f)
        provenance.note_run(d)  # figures saved later name the runs they read
        # <results>/<profile>/[<experiment...>/]<paradigm>/<unit>/seed<k>
        paradigm_dir = d.parent.parent
        parts = []
        p = paradigm_dir.parent
        while p.name and p.name != str(df["profile"].iloc[0]) and len(parts) < 4:
            parts.insert(0, p.name)
            p = p.parent
        frames.append(df.assign(experiment="/".join(parts) or "main", run_dir=str(d)))
    if not frames:
        return pd.DataFrame()
    out = pd.concat(frames, ignore_index=True)
    trivial = out["paradigm"] == "trivial"
    dedup = out[trivial].drop_duplicates(["experiment", "seed", "task", "metric"])
    return pd.concat([out[~trivial], dedup], ignore_index=True)


def collect_logs(paths: Iterable[Path | str]) -> pd.DataFrame:
    """The ``train_log.csv`` of each run folder, with ``paradigm``, ``unit`` and ``seed`` columns."""
    frames = []
    for d in map(Path, paths):
        f = d / "train_log.csv"
        if f.exists():
            provenance.note_run(d)
            frames.append(pd.read_csv(f).assign(paradigm=d.parent.parent.name, unit=d.parent.name,
                                                seed=int(d.name.removeprefix("seed"))))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
