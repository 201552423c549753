"""The run folder, and the one module that knows it: where a run lives, whether it is finished, stale or partial, how
runs are found, and how their files are written and read (docs/run-folder.md, docs/architecture.md).

A *run* is one model (a unit) trained on some tasks for one seed, in its own folder
``results/<profile>/[<experiment>/]<paradigm>/<unit>/seed<k>/``. Its life:

- **planned**: no folder yet;
- **partial**: started (``config.yaml``, and ``STARTED``: the hash it was started under) but not finished. A rerun of
  the same config resumes it from ``last.pt``; a rerun of another config wipes it and starts afresh;
- **finished**: ``DONE`` holds the hash of the config asked for. ``DONE`` is written last, after every result file,
  and every file here is written atomically (``m2dino.atomic``), so a kill at any moment leaves the folder partial,
  never finished with a half-written file;
- **stale**: ``DONE`` holds another hash: the run finished under another config or another ``RESULTS_VERSION``. A stale
  run is never read: the trainer retrains it, the readers leave it out, and :func:`differences` names the keys.

Asked about a config (``rc``), a folder is judged against that config's hash. Asked without one (discovery), it is
judged by its own ``config.yaml`` under today's code: stale when its ``DONE`` differs from that config's hash now (the
code's ``RESULTS_VERSION`` or the hash rule changed since). That a config key's default changed in the YAML shows only
against the config a run would have today, which the plans know: ``m2dino.study.current`` judges every planned run so.
"""
from __future__ import annotations

import json
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig, OmegaConf

from m2dino import atomic, config
from m2dino.paths import results_dir
from m2dino.provenance import note_run

# ---- the layout ----

PARADIGMS = ("single", "clinical", "all")  # TS, CG, AU: the paradigm level of a run folder
MAIN = "main"  # the experiment that has no folder level of its own
_SEED = re.compile(r"^seed(\d+)$")

# the files of a run folder (docs/run-folder.md has the table)
CONFIG = "config.yaml"  # the resolved run config, written at the start
STARTED = "STARTED"  # the hash the folder's partial content was trained under
DONE = "DONE"  # the hash of the finished run: written last
METRICS = "metrics.csv"
PER_IMAGE, PER_IMAGE_TRIVIAL = "per_image.csv", "per_image_trivial.csv"
ROUTING = "routing.json"
RUN_JSON = "run.json"
TRAIN_LOG, VAL_LOG = "train_log.csv", "val_log.csv"
AFFINITY, AFFINITY_COST = "affinity.csv", "affinity_cost.json"

METRIC_COLUMNS = ["profile", "paradigm", "unit", "seed", "task", "type", "group", "metric", "value", "ci_low",
                  "ci_high", "n_train", "n_test"]
TRIVIAL = "trivial"  # the paradigm of the trivial predictor's rows in metrics.csv
INT_COLUMNS = {"label", "pred", "correct", "height", "width"}


def experiment_dir(profile_root: Path, experiment: str = MAIN) -> Path:
    """``<profile_root>/[<experiment>/]``: the main study has no folder level of its own."""
    return Path(profile_root) if not experiment or experiment == MAIN else Path(profile_root) / experiment


def run_path(profile_root: Path, paradigm: str, unit: str, seed: int, experiment: str = MAIN) -> Path:
    """The run folder ``<profile_root>/[<experiment>/]<paradigm>/<unit>/seed<k>``; :func:`parse_run_path` reads it
    back. The one place that spells the layout out."""
    return experiment_dir(profile_root, experiment) / paradigm / unit / f"seed{int(seed)}"


def parse_run_path(run_dir: Path, profile_root: Path) -> dict:
    """Experiment, paradigm, unit and seed of a run folder below ``profile_root`` (the inverse of :func:`run_path`)."""
    parts = Path(run_dir).relative_to(profile_root).parts
    m = _SEED.match(parts[-1]) if parts else None
    if len(parts) < 3 or m is None or parts[-3] not in PARADIGMS:
        raise ValueError(f"{run_dir}: not a run folder <profile>/[<experiment>/]<paradigm>/<unit>/seed<k>/")
    return {"experiment": "/".join(parts[:-3]) or MAIN, "paradigm": parts[-3], "unit": parts[-2],
            "seed": int(m.group(1))}


def model_of(run_dir: Path | str) -> str:
    """The trained model a run folder belongs to, whatever its seed: ``<profile>/[<experiment>/]<paradigm>/<unit>``
    (the run folder without its ``seed<k>`` level). Runs of one model on the same seed share their seed effects."""
    return str(Path(str(run_dir)).parent)


def run_dir(cfg: DictConfig, unit: str) -> Path:
    """The run folder of ``unit`` under ``cfg`` (its profile, experiment, paradigm and seed)."""
    return run_path(results_dir(cfg), cfg.paradigm.name, unit, int(cfg.seed), cfg.get("experiment") or MAIN)


def profile_root_of(path: Path) -> Path:
    """The ``results/<profile>`` folder above a run folder: the nearest ancestor named as its config's profile, above
    its paradigm level (an experiment spans at most four levels)."""
    path = Path(path)
    profile = str((read_config(path).get("profile") or {}).get("name", ""))
    p = path.parents[2]
    for _ in range(5):
        if p.name == profile:
            return p
        p = p.parent
    raise ValueError(f"{path}: no folder named {profile!r} (its config's profile.name) above it")


# ---- what a run is: its config and hash ----

# Keys that say where things go, not what is computed: left out of the run's config hash.
OUTPUT_KEYS = ("results_dir", "figures_dir", "run", "out", "predictions", "split")
# Sections that never describe a run, so never hashed: how work is spread over processes and reported (runtime), the
# benchmarks' settings (bench), and what a reproduction schedules around its runs (plan: the seed list, the probes).
NOT_A_RUN = ("runtime", "bench", "plan")


def _get(cfg, *keys):
    node = cfg
    for k in keys:
        node = node.get(k) if isinstance(node, Mapping) else None
        if node is None:
            return None
    return node


def measures_affinity(cfg: DictConfig | Mapping) -> bool:
    """Whether a run config measures task affinity: ``train.affinity.enabled``, and the run's paradigm and
    experiment listed in ``train.affinity.paradigms`` and ``.experiments`` (null: any)."""
    a = _get(cfg, "train", "affinity")
    if not a or not a.get("enabled"):
        return False
    if a.get("paradigms") is not None and str(_get(cfg, "paradigm", "name")) not in list(a["paradigms"]):
        return False
    return a.get("experiments") is None or str(cfg.get("experiment") or MAIN) in list(a["experiments"])


def run_config(cfg: DictConfig, unit: str, task_ids: Sequence[str]) -> DictConfig:
    """The resolved config of one run: ``cfg`` with ``unit`` and ``tasks`` pinned to this unit."""
    rc = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    rc.unit, rc.tasks = unit, list(task_ids)
    return rc


def _hashed(rc: DictConfig | Mapping) -> dict:
    """The part of a run config (or of its resolved container) that its hash covers: everything but output locations,
    the sections of :data:`NOT_A_RUN` whole, and ``train.affinity`` when the run does not measure it."""
    c = OmegaConf.to_container(rc, resolve=True) if isinstance(rc, DictConfig) else dict(rc)
    c = {k: v for k, v in c.items() if k not in NOT_A_RUN + OUTPUT_KEYS}
    if not measures_affinity(c) and isinstance(c.get("train"), Mapping):
        # affinity off (or not measured in this paradigm) cannot change the run
        c["train"] = {k: v for k, v in c["train"].items() if k != "affinity"}
    if isinstance(c.get("train"), Mapping) and "order_seed" in c["train"] and c["train"]["order_seed"] is None:
        # a null train.order_seed: the task order follows the seed, as before the key existed (hashes unchanged)
        c["train"] = {k: v for k, v in c["train"].items() if k != "order_seed"}
    return c


def run_hash(rc: DictConfig | Mapping) -> str:
    """The hash that decides whether a finished run can be reused: everything that can change its results, and the
    code's ``RESULTS_VERSION``. Left out (:func:`_hashed`): output locations, the sections ``runtime`` (processes,
    loader workers, reporting), ``bench`` and ``plan`` (seed list, probes) whole, and ``train.affinity`` when this run
    does not measure it, and ``train.order_seed`` when null; so changing them never retrains a finished run."""
    return config.config_hash(_hashed(rc))


def unit_hashes(cfg: DictConfig, units: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """:func:`run_hash` of every unit's run config under ``cfg`` (unit -> task ids), without building each config:
    what the plans ask of hundreds of runs at once."""
    base = OmegaConf.to_container(cfg, resolve=True)
    return {u: run_hash({**base, "unit": u, "tasks": list(ids)}) for u, ids in units.items()}


# ---- its state ----

PLANNED, PARTIAL, FINISHED, STALE = "planned", "partial", "finished", "stale"
_own: dict[tuple, str | None] = {}  # (folder, config's mtime) -> its config's hash under today's code


def _read_marker(path: Path) -> str | None:
    return path.read_text().strip() or None if path.is_file() else None


def done_hash(path: Path) -> str | None:
    """The hash in a run's ``DONE`` (None: not finished)."""
    return _read_marker(Path(path) / DONE)


def own_hash(path: Path) -> str | None:
    """The hash of a run's own ``config.yaml`` under today's code (None without one)."""
    f = Path(path) / CONFIG
    if not f.is_file():
        return None
    key = (str(f), f.stat().st_mtime_ns, config.RESULTS_VERSION)
    if key not in _own:
        try:
            _own[key] = run_hash(OmegaConf.load(f))
        except Exception as e:  # noqa: BLE001 - any parse failure is reported with the file
            raise ValueError(f"{f}: cannot read run config ({e})") from e
    return _own[key]


def state(path: Path, rc: DictConfig | str | None = None) -> str:
    """:data:`PLANNED`, :data:`PARTIAL`, :data:`FINISHED` or :data:`STALE`: against the hash of ``rc`` (a run config,
    or its hash) when given, else against the folder's own ``config.yaml`` under today's code (module docstring)."""
    path = Path(path)
    done = done_hash(path)
    if done is None:
        return PARTIAL if (path / CONFIG).is_file() or (path / STARTED).is_file() else PLANNED
    want = own_hash(path) if rc is None else rc if isinstance(rc, str) else run_hash(rc)
    return FINISHED if done == want else STALE


def is_done(path: Path, rc: DictConfig) -> bool:
    """Whether ``path`` holds a finished run of exactly ``rc``."""
    return state(path, rc) == FINISHED


def _flat(d: Mapping, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, Mapping) and v:
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def differences(path: Path, rc: DictConfig) -> list[str]:
    """Why the run at ``path`` is not a finished run of ``rc``: ``key: old -> new`` for each hashed key that differs
    between its ``config.yaml`` and ``rc``, or the code version when the configs agree."""
    saved = read_config(path)
    if not saved:
        return [f"no {CONFIG}"]
    old, new = _flat(_hashed(OmegaConf.create(saved))), _flat(_hashed(rc))
    out = [f"{k}: {old.get(k, '(absent)')!r} -> {new.get(k, '(absent)')!r}" for k in sorted(set(old) | set(new))
           if old.get(k, "(absent)") != new.get(k, "(absent)")]
    if not out and state(path, rc) == STALE:
        was = read_run_json(path).get("results_version", "older") if (Path(path) / RUN_JSON).is_file() else "older"
        out = [f"RESULTS_VERSION: {was} -> {config.RESULTS_VERSION} (the code changed what a config computes)"]
    return out


class StaleRunError(RuntimeError):
    """A run that was asked for is stale (finished under another config or code version) and may not be read."""


def require_finished(path: Path, rc: DictConfig) -> Path:
    """``path`` when it holds a finished run of ``rc``; else an error naming the folder and what differs."""
    st = state(path, rc)
    if st == STALE:
        raise StaleRunError(f"{path} is stale, finished under another config; it is not read. Differs: "
                            + "; ".join(differences(path, rc)) + ". Retrain it (the notebook with "
                            "train_missing=True, or python -m m2dino train ...) or restore the old setting.")
    if st != FINISHED:
        raise FileNotFoundError(f"{path}: no finished run ({st})")
    return Path(path)


# ---- its life: start, results, finish ----

def start(path: Path, rc: DictConfig) -> None:
    """Make ``path`` ready to train ``rc``: a partial run of the same config is kept (it resumes from ``last.pt``);
    any other content (a stale run, a partial run of another config) is wiped, so it cannot be resumed by mistake.

    A finished run of another task list is refused instead: ``tasks=`` narrowing a multi-task unit would otherwise
    silently replace the full unit's run that the analysis reads.
    """
    path = Path(path)
    want = run_hash(rc)
    st = state(path, rc)
    if st == FINISHED:
        return
    if st == STALE:
        old = read_config(path)
        if list(old.get("tasks") or []) != list(rc.tasks):
            raise FileExistsError(
                f"{path} holds a finished run of tasks {list(old.get('tasks') or [])}; this run of tasks "
                f"{list(rc.tasks)} would replace it. Keep runs on a subset of a unit apart with experiment=NAME, or "
                "delete the folder.")
        shutil.rmtree(path)
    elif st == PARTIAL and (_read_marker(path / STARTED) or own_hash(path)) != want:
        shutil.rmtree(path)  # a partial run of another config (or code version): nothing of it may be resumed
    path.mkdir(parents=True, exist_ok=True)
    atomic.clean(path)  # what a killed writer left half-done
    if not (path / CONFIG).is_file():
        atomic.write_text(path / CONFIG, OmegaConf.to_yaml(rc))
    atomic.write_text(path / STARTED, want + "\n")


def write_table(path: Path, name: str, df: pd.DataFrame) -> Path:
    """A result table of the run (``metrics.csv``, ``per_image.csv``, ...), written atomically."""
    return atomic.to_csv(df, Path(path) / name, index=False)


def write_json(path: Path, name: str, obj) -> Path:
    """A result record of the run (``routing.json``, ...), written atomically."""
    return atomic.write_text(Path(path) / name, json.dumps(obj, indent=1, sort_keys=True) + "\n")


def mark_done(path: Path, rc: DictConfig, info: Mapping | None = None) -> Path:
    """Finish the run: ``run.json`` (``info``: steps, timing; with the code's ``RESULTS_VERSION`` added) when given,
    then ``DONE`` with the run's hash, last. Call it only after every result file is written."""
    path = Path(path)
    h = run_hash(rc)
    if info is not None:
        atomic.write_text(path / RUN_JSON, json.dumps({"hash": h, **info, "results_version": config.RESULTS_VERSION},
                                                      indent=1) + "\n")
    atomic.write_text(path / DONE, h + "\n")
    return path


# ---- finding runs ----

RUN_COLUMNS = ["experiment", "paradigm", "unit", "seed", "state", "hash", "path"]


def discover(profile_root: Path, experiment: str | None = None,
             expected: Mapping[Path, str] | None = None) -> pd.DataFrame:
    """Every run folder below ``results/<profile>`` (or below one experiment of it: ``data_scale`` takes in
    ``data_scale/frac0.5``) as one table: experiment, paradigm, unit, seed, state, hash (from ``DONE``) and path,
    sorted by path. Folders that are not run folders (pretraining, tables) are skipped.

    ``expected``: run folder -> the hash its run must have today (what the plans ask for: ``m2dino.study.current``).
    Those folders are judged against it, and those not started yet are listed as planned; every other folder is
    judged by its own config under today's code."""
    root = Path(profile_root)
    want = {Path(k): v for k, v in (expected or {}).items()}
    rows = []
    for d in sorted(set(below(root)) | set(want)):
        try:
            where = parse_run_path(d, root)
        except ValueError:
            continue
        exp = where["experiment"]
        if experiment and exp != experiment and not exp.startswith(experiment.rstrip("/") + "/"):
            continue
        rows.append({**where, "state": state(d, want.get(d)), "hash": done_hash(d), "path": d})
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


def below(folder: Path) -> list[Path]:
    """The started run folders (``seed<k>`` with a config or a marker) at or below ``folder``, sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [folder] if _SEED.match(folder.name) else []
    return sorted(d for d in found + list(folder.rglob("seed*"))
                  if d.is_dir() and _SEED.match(d.name) and state(d) != PLANNED)


def finished(profile_root: Path | pd.DataFrame, experiment: str | None = None) -> list[Path]:
    """The finished run folders of a profile (or of a table from :func:`discover`), sorted; stale ones are left out."""
    table = profile_root if isinstance(profile_root, pd.DataFrame) else discover(profile_root, experiment)
    return sorted(Path(p) for p in table.loc[table["state"] == FINISHED, "path"])


# ---- reading a run ----

def _note(path: Path) -> None:
    note_run(path, done_hash(path))  # figures saved later name the runs they read, with their hash


def read_config(path: Path) -> dict:
    """A run's resolved ``config.yaml`` as a dict (empty when the file is absent)."""
    f = Path(path) / CONFIG
    if not f.is_file():
        return {}
    try:
        return OmegaConf.to_container(OmegaConf.load(f), resolve=False) or {}
    except Exception as e:  # noqa: BLE001 - any parse failure is reported with the file
        raise ValueError(f"{f}: cannot read run config ({e})") from e


def read_run_json(path: Path) -> dict:
    """A run's ``run.json`` (optimiser steps, best epoch and val score, timing); errors name the file."""
    f = Path(path) / RUN_JSON
    _note(path)
    try:
        return json.loads(f.read_text())
    except FileNotFoundError as e:
        raise FileNotFoundError(f"{f}: no run record (an unfinished run?)") from e
    except json.JSONDecodeError as e:
        raise ValueError(f"{f}: not JSON ({e})") from e


def read_metrics(path: Path) -> pd.DataFrame:
    """A run's ``metrics.csv``, checked: every column of :data:`METRIC_COLUMNS`, and the model's rows agreeing with
    the folder on paradigm, unit and seed. Errors name the file (and the row)."""
    path = Path(path)
    f = path / METRICS
    _note(path)
    try:
        df = pd.read_csv(f)
    except Exception as e:  # noqa: BLE001 - any parse failure is reported with the file
        raise ValueError(f"{f}: cannot read metrics table ({e})") from e
    missing = [c for c in METRIC_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{f}: missing columns {missing}")
    m = _SEED.match(path.name)
    where = {"paradigm": path.parent.parent.name, "unit": path.parent.name, "seed": int(m.group(1)) if m else None}
    model_rows = df["paradigm"].astype(str) != TRIVIAL
    for key in ("paradigm", "unit", "seed"):
        bad = df.index[model_rows & (df[key].astype(str) != str(where[key]))]
        if len(bad):
            raise ValueError(f"{f}, row {int(bad[0]) + 2}: {key}={df.loc[bad[0], key]!r} disagrees with the folder "
                             f"({where[key]!r})")
    return df


def read_per_image(path: Path, task: str, name: str = PER_IMAGE) -> pd.DataFrame:
    """The per-image table of one task from a run's ``per_image.csv`` (or, with ``name=PER_IMAGE_TRIVIAL``, the
    trivial predictor's scores on the same images)."""
    f = Path(path) / name
    _note(path)
    if not f.exists():
        raise FileNotFoundError(f"{f}: no per-image table (needed for the intervals over seeds and images)")
    df = pd.read_csv(f)
    if "task" not in df.columns:
        raise ValueError(f"{f}: no 'task' column")
    sub = df[df["task"] == task].reset_index(drop=True)
    if sub.empty:
        raise ValueError(f"{f}: no rows for task {task!r}")
    # one CSV holds every task of the unit: drop the other tasks' columns, and give back the integer columns their
    # dtype (pandas reads them as float where other tasks' rows left them empty)
    sub = sub.dropna(axis=1, how="all")
    for col in INT_COLUMNS & set(sub.columns):
        if sub[col].isna().any():
            raise ValueError(f"{f}: task {task!r} has empty {col!r} values")
        sub[col] = sub[col].astype("int64")
    return sub


def read_routing(path: Path) -> dict:
    """A run's ``routing.json``: task -> MoE block -> tokens per expert. ``FileNotFoundError`` for a dense model."""
    f = Path(path) / ROUTING
    _note(path)
    if not f.exists():
        raise FileNotFoundError(f"{f}: no routing statistics (a dense model, or a run that predates them)")
    try:
        return json.loads(f.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{f}: not JSON ({e})") from e


def read_table(path: Path, name: str) -> pd.DataFrame:
    """Another table of a run by file name (``train_log.csv``, ``affinity.csv``); errors name the file."""
    f = Path(path) / name
    _note(path)
    if not f.exists():
        raise FileNotFoundError(f"{f}: not in this run folder")
    try:
        return pd.read_csv(f)
    except Exception as e:  # noqa: BLE001 - any parse failure is reported with the file
        raise ValueError(f"{f}: cannot read ({e})") from e
