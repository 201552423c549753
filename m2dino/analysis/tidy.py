"""One tidy table over every finished run under ``results/<profile>/``: a row per experiment, paradigm, unit, group,
task, seed and metric, read from the run folders' ``metrics.csv`` through ``m2dino.runs`` (docs/run-folder.md).

``<experiment>`` may span several folder levels (``data_scale/frac0.25``) and is ``main`` when absent. Only finished
runs count: partial and stale runs are never read (``m2dino.runs``). Which runs are finished comes from a runs table
(``m2dino.runs.discover``, or ``m2dino.study.current``, which also judges every planned run against the config it
would have today). Every run also scores the trivial predictor (paradigm ``trivial``, e.g. the majority class or the
mean box); those rows are kept once per experiment, seed, task and metric, as a floor for the models.
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from m2dino import runs
from m2dino.registry import get_task
from m2dino.runs import PER_IMAGE, PER_IMAGE_TRIVIAL, TRIVIAL, read_per_image  # noqa: F401 - the analysis' names

METRICS_COLUMNS = tuple(runs.METRIC_COLUMNS)


class NoResultsError(FileNotFoundError):
    """No finished run folder with a ``metrics.csv`` where results were expected."""


def read_metrics(run_dir: Path, experiment: str) -> pd.DataFrame:
    """One run's ``metrics.csv`` (checked by ``m2dino.runs.read_metrics``) with ``experiment``, ``run_dir``,
    ``is_primary`` and ``direction`` added."""
    df = runs.read_metrics(run_dir)
    df["experiment"] = experiment
    df["run_dir"] = str(run_dir)
    primary, direction = {}, {}
    for t in df["task"].unique():
        try:
            rec = get_task(str(t))
        except KeyError as e:
            raise ValueError(f"{Path(run_dir) / runs.METRICS}: {e.args[0]}") from e
        primary[t], direction[t] = rec.primary_metric, rec.direction
    df["is_primary"] = [primary[t] == m for t, m in zip(df["task"], df["metric"])]
    df["direction"] = df["task"].map(direction).astype(int)
    return df


def _dedup_trivial(df: pd.DataFrame) -> pd.DataFrame:
    trivial = df["paradigm"] == TRIVIAL
    return pd.concat([df[~trivial], df[trivial].drop_duplicates(["experiment", "seed", "task", "metric"])],
                     ignore_index=True)


def collect_metrics(where: Path | str | Iterable[Path | str]) -> pd.DataFrame:
    """The ``metrics.csv`` of the finished runs under a folder (or of the given run folders), in one table, for a quick
    look at a paradigm right after training; :func:`tidy_results` is the full table of a profile.

    Adds ``experiment`` (``main`` for the main study) and ``run_dir``. The trivial predictor's rows, written by every
    run, appear once per (experiment, seed, task, metric).
    """
    paths = runs.below(where) if isinstance(where, (str, Path)) else map(Path, where)
    frames = []
    for d in paths:
        if runs.state(d) != runs.FINISHED:
            continue
        exp = runs.parse_run_path(d, runs.profile_root_of(d))["experiment"]
        frames.append(runs.read_metrics(d).assign(experiment=exp, run_dir=str(d)))
    return _dedup_trivial(pd.concat(frames, ignore_index=True)) if frames else pd.DataFrame()


def tidy_results(profile_root: Path, run_table: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every finished run's metrics under ``results/<profile>/`` as one table (raises ``NoResultsError`` when there
    are none). ``run_table``: which runs are finished (``m2dino.study.current``, which knows the configs the planned
    runs would have today); None: ``m2dino.runs.discover``, each run judged by its own config under today's code."""
    table = runs.discover(profile_root) if run_table is None else run_table
    done = table[table["state"] == runs.FINISHED]
    if done.empty:
        raise NoResultsError(f"no run folders of finished runs under {profile_root}; train first "
                             f"(python -m m2dino train profile=...)")
    df = _dedup_trivial(pd.concat([read_metrics(Path(r.path), r.experiment) for r in done.itertuples()],
                                  ignore_index=True))
    df.loc[df["paradigm"] == TRIVIAL, "unit"] = TRIVIAL
    cols = ["experiment", *METRICS_COLUMNS, "is_primary", "direction", "run_dir"]
    return df[cols + [c for c in df.columns if c not in cols]].sort_values(
        ["experiment", "paradigm", "unit", "seed", "task", "metric"], kind="stable").reset_index(drop=True)


def primary_table(tidy: pd.DataFrame) -> pd.DataFrame:
    """Only the primary metric of each task: one row per experiment, paradigm, task and seed."""
    out = tidy[tidy["is_primary"]].copy()
    dup = out.duplicated(["experiment", "paradigm", "task", "seed"])
    if dup.any():
        r = out[dup].iloc[0]
        raise ValueError(f"task {r['task']!r} appears in two units of {r['experiment']}/{r['paradigm']} seed "
                         f"{r['seed']} ({r['run_dir']})")
    return out.reset_index(drop=True)


def data_source_label(tidy: pd.DataFrame) -> str:
    """``synthetic data``, ``FMC_UIA data`` or ``mixed data`` from the runs' configs (what the figures must say)."""
    sources = set()
    for d in tidy["run_dir"].unique():
        src = (runs.read_config(Path(d)).get("data") or {}).get("source", "synthetic")
        sources.add(str(src))
    if sources == {"synthetic"}:
        return "synthetic data"
    if sources == {"fmc"}:
        return "FMC_UIA data"
    return "mixed data (" + ", ".join(sorted(sources)) + ")"


def provenance(tidy: pd.DataFrame) -> str:
    """A one-line label for captions: profile(s), seeds and data, e.g. ``profile=demo, seeds [0], synthetic data``."""
    profiles = ",".join(sorted(tidy["profile"].astype(str).unique()))
    seeds = sorted(int(s) for s in tidy["seed"].unique())
    return f"profile={profiles}, seeds {seeds}, {data_source_label(tidy)}"
