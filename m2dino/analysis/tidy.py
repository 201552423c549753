"""One tidy table over every run under ``results/<profile>/``: a row per experiment, paradigm, unit, group, task,
seed and metric, read from the run folders' ``metrics.csv`` (docs/run-folder.md).

A run folder is ``<profile>/[<experiment>/]<paradigm>/<unit>/seed<k>/``; ``<experiment>`` may span several folder
levels (``data_scale/frac0.25``) and is ``main`` when absent. Only finished runs count: the trainer writes ``DONE``
after ``metrics.csv``. Every run also scores the trivial predictor (paradigm ``trivial``, e.g. the majority class or
the mean box); those rows are kept once per experiment, seed, task and metric, as a floor for the models.
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd
from omegaconf import OmegaConf

from m2dino.paths import parse_run_path
from m2dino.provenance import note_run
from m2dino.registry import get_task

TRIVIAL = "trivial"
METRICS_COLUMNS = ("profile", "paradigm", "unit", "seed", "task", "type", "group", "metric", "value", "ci_low",
                   "ci_high", "n_train", "n_test")
INT_COLUMNS = {"label", "pred", "correct", "height", "width"}


class NoResultsError(FileNotFoundError):
    """No run folder with a ``metrics.csv`` where results were expected."""


def run_dirs(profile_root: Path) -> list[Path]:
    """Every finished run folder (``metrics.csv`` and ``DONE``) below ``profile_root``, sorted."""
    profile_root = Path(profile_root)
    return sorted(p.parent for p in profile_root.glob("**/seed*/metrics.csv") if (p.parent / "DONE").exists())


def read_metrics(run_dir: Path, profile_root: Path) -> pd.DataFrame:
    """One run's ``metrics.csv`` with ``experiment``, ``run_dir``, ``primary`` and ``direction`` added."""
    path = Path(run_dir) / "metrics.csv"
    note_run(run_dir)  # figures saved later name the runs they read
    try:
        df = pd.read_csv(path)
    except Exception as e:  # noqa: BLE001 - any parse failure is reported with the file
        raise ValueError(f"{path}: cannot read metrics table ({e})") from e
    missing = [c for c in METRICS_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing columns {missing}")
    where = parse_run_path(Path(run_dir), Path(profile_root))
    model_rows = df["paradigm"].astype(str) != TRIVIAL
    for key in ("paradigm", "unit", "seed"):
        bad = df.index[model_rows & (df[key].astype(str) != str(where[key]))]
        if len(bad):
            raise ValueError(f"{path}, row {int(bad[0]) + 2}: {key}={df.loc[bad[0], key]!r} disagrees with the folder "
                             f"({where[key]!r})")
    df["experiment"] = where["experiment"]
    df["run_dir"] = str(run_dir)
    primary, direction = {}, {}
    for t in df["task"].unique():
        try:
            rec = get_task(str(t))
        except KeyError as e:
            raise ValueError(f"{path}: {e.args[0]}") from e
        primary[t], direction[t] = rec.primary_metric, rec.direction
    df["is_primary"] = [primary[t] == m for t, m in zip(df["task"], df["metric"])]
    df["direction"] = df["task"].map(direction).astype(int)
    return df


def _profile_root(run_dir: Path, profile: str) -> Path:
    """The ``results/<profile>`` folder above a run folder (the nearest ancestor named ``profile`` above its
    paradigm level; an experiment has at most four levels)."""
    p = run_dir.parents[2]
    for _ in range(5):
        if p.name == profile:
            return p
        p = p.parent
    raise ValueError(f"{run_dir}: no folder named {profile!r} above it (docs/run-folder.md)")


def collect_metrics(where: Path | str | Iterable[Path | str]) -> pd.DataFrame:
    """All ``metrics.csv`` of finished runs under a folder (or in the given run folders), in one table, for a quick
    look at a paradigm right after training; :func:`tidy_results` is the full table of a profile.

    Adds ``experiment`` (the folder level between profile and paradigm, ``main`` if none) and ``run_dir``. The
    trivial predictor's rows, written by every run, appear once per (experiment, seed, task, metric).
    """
    if isinstance(where, (str, Path)):
        root = Path(where)
        dirs = sorted(p.parent for p in root.rglob("DONE")) if root.is_dir() else []
    else:
        dirs = [Path(p) for p in where]
    frames = []
    for d in dirs:
        f = d / "metrics.csv"
        if not (d / "DONE").exists() or not f.exists():
            continue
        df = pd.read_csv(f)
        note_run(d)  # figures saved later name the runs they read
        exp = parse_run_path(d, _profile_root(d, str(df["profile"].iloc[0])))["experiment"]
        frames.append(df.assign(experiment=exp, run_dir=str(d)))
    if not frames:
        return pd.DataFrame()
    out = pd.concat(frames, ignore_index=True)
    trivial = out["paradigm"] == TRIVIAL
    dedup = out[trivial].drop_duplicates(["experiment", "seed", "task", "metric"])
    return pd.concat([out[~trivial], dedup], ignore_index=True)


def tidy_results(profile_root: Path) -> pd.DataFrame:
    """Every run's metrics under ``results/<profile>/`` as one table (raises ``NoResultsError`` when there are none)."""
    dirs = run_dirs(profile_root)
    if not dirs:
        raise NoResultsError(f"no run folders with metrics.csv and DONE under {profile_root}; train first "
                             f"(python -m m2dino train profile=...)")
    df = pd.concat([read_metrics(d, profile_root) for d in dirs], ignore_index=True)
    trivial = df["paradigm"] == TRIVIAL
    df = pd.concat([df[~trivial], df[trivial].drop_duplicates(["experiment", "seed", "task", "metric"])],
                   ignore_index=True)
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


PER_IMAGE, PER_IMAGE_TRIVIAL = "per_image.csv", "per_image_trivial.csv"


def read_per_image(run_dir: Path, task: str, name: str = PER_IMAGE) -> pd.DataFrame:
    """The per-image table of one task from a run's ``per_image.csv`` (or, with ``name=PER_IMAGE_TRIVIAL``, the
    trivial predictor's scores on the same images)."""
    path = Path(run_dir) / name
    note_run(run_dir)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no per-image table (needed for paired bootstrap CIs)")
    df = pd.read_csv(path)
    if "task" not in df.columns:
        raise ValueError(f"{path}: no 'task' column")
    sub = df[df["task"] == task].reset_index(drop=True)
    if sub.empty:
        raise ValueError(f"{path}: no rows for task {task!r}")
    # one CSV holds every task of the unit: drop the other tasks' columns, and give back the integer columns their
    # dtype (pandas reads them as float where other tasks' rows left them empty)
    sub = sub.dropna(axis=1, how="all")
    for col in INT_COLUMNS & set(sub.columns):
        if sub[col].isna().any():
            raise ValueError(f"{path}: task {task!r} has empty {col!r} values")
        sub[col] = sub[col].astype("int64")
    return sub


def read_run_config(run_dir: Path) -> dict:
    """A run's resolved ``config.yaml`` as a dict (empty when the file is absent)."""
    path = Path(run_dir) / "config.yaml"
    if not path.exists():
        return {}
    try:
        return OmegaConf.to_container(OmegaConf.load(path), resolve=False) or {}
    except Exception as e:  # noqa: BLE001
        raise ValueError(f"{path}: cannot read run config ({e})") from e


def data_source_label(tidy: pd.DataFrame) -> str:
    """``synthetic data``, ``FMC_UIA data`` or ``mixed data`` from the runs' configs (what the figures must say)."""
    sources = set()
    for d in tidy["run_dir"].unique():
        src = (read_run_config(Path(d)).get("data") or {}).get("source", "synthetic")
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
