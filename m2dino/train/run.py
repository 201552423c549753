"""One run: a unit (one model over some tasks) for one seed, in its own folder, cached and resumable.

The run folder (where it is, what it holds, when it is finished, stale or partial) belongs to ``m2dino.runs``; this
module trains into it: :func:`run_unit` asks ``m2dino.runs`` whether the run is finished, prepares the folder
(resuming a partial run of the same config from ``last.pt``, wiping anything else), trains, writes the results
atomically and marks the run finished last.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist
from omegaconf import DictConfig
from torch import nn
from torch.utils.data import Dataset

from m2dino import runs
from m2dino.runs import METRIC_COLUMNS, is_done, run_config, run_dir
from m2dino.threads import torch_threads
from m2dino.registry import get_task
from m2dino.train import checkpoint
from m2dino.train.evaluation import eval_batch_size, evaluate, trivial_fit, trivial_scores
from m2dino.train.ddp import rank_and_world, wrap_ddp
from m2dino.train.loop import fit
from m2dino.data.truth import normalised_train_targets

Splits = tuple[Mapping[str, Dataset], Mapping[str, Dataset], Mapping[str, Dataset]]


def resolve_device(cfg: DictConfig) -> torch.device:
    """``profile.device``: cpu, cuda, or auto (cuda when available); under torchrun, this rank's GPU."""
    want = str(cfg.profile.device)
    if want == "auto":
        want = "cuda" if torch.cuda.is_available() else "cpu"
    if want.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("profile.device=cuda but no CUDA device is available; use profile.device=cpu or auto")
    if want == "cuda" and "LOCAL_RANK" in os.environ:
        want = f"cuda:{int(os.environ['LOCAL_RANK'])}"
    return torch.device(want)


def default_model(cfg: DictConfig, task_ids: list[str]) -> nn.Module:
    """The run's model; ``model.weights`` is resolved to a file first (``pretrained:inhouse`` may pretrain once)."""
    from m2dino.model import build_model
    from m2dino.pretrain.store import with_resolved_weights

    return build_model(with_resolved_weights(cfg), list(task_ids))


class LazySplit(Mapping):
    """Task id -> dataset of one split, built on first access. The test split is handed over this way, so it is opened
    only when final scoring first reads it, never during training or model selection (a test checks this)."""

    def __init__(self, build: Callable[[], Mapping[str, Dataset]]) -> None:
        self._build, self._sets = build, None

    def _get(self) -> Mapping[str, Dataset]:
        if self._sets is None:
            self._sets = self._build()
        return self._sets

    def __getitem__(self, key: str) -> Dataset:
        return self._get()[key]

    def __iter__(self):
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())


def default_data(cfg: DictConfig, task_ids: list[str]) -> Splits:
    """Train and val datasets per task, from ``m2dino.data``, and the test datasets as a :class:`LazySplit`."""
    from m2dino.data.build import build_datasets

    ids = list(task_ids)
    return (build_datasets(cfg, ids, "train"), build_datasets(cfg, ids, "val"),
            LazySplit(lambda: build_datasets(cfg, ids, "test")))  # type: ignore[return-value]


def run_unit(cfg: DictConfig, unit: str, task_ids: list[str], progress: bool = True,
             make_model: Callable[[DictConfig, list[str]], nn.Module] = default_model,
             make_data: Callable[[DictConfig, list[str]], Splits] = default_data,
             stop_after_epoch: int | None = None) -> Path:
    """Train (or reuse, or resume) one unit for ``cfg.seed``; return its run folder.

    ``make_model``/``make_data`` build the model and the (train, val, test) datasets per task; tests pass small
    stand-ins. ``stop_after_epoch`` simulates a kill after that many epochs (the folder is left unfinished).
    """
    rc = run_config(cfg, unit, task_ids)
    path = run_dir(cfg, unit)
    if is_done(path, rc):
        return path
    with torch_threads(rc.train.threads):  # results depend on it (float reductions): pinned by config
        return _run_unit(cfg, rc, path, unit, task_ids, progress, make_model, make_data, stop_after_epoch)


def _run_unit(cfg: DictConfig, rc: DictConfig, path: Path, unit: str, task_ids: list[str], progress: bool,
              make_model: Callable[[DictConfig, list[str]], nn.Module],
              make_data: Callable[[DictConfig, list[str]], Splits], stop_after_epoch: int | None) -> Path:
    rank, world = rank_and_world()
    if rank == 0:
        runs.start(path, rc)
    if world > 1:
        dist.barrier()
    t0 = time.perf_counter()
    checkpoint.seed_everything(int(cfg.seed))
    device = resolve_device(cfg)
    train_sets, val_sets, test_sets = make_data(rc, list(task_ids))
    model = make_model(rc, list(task_ids))
    start_at_trivial(model, train_sets)
    model = model.to(device)
    trained = wrap_ddp(model, device) if world > 1 else model
    desc = f"{cfg.paradigm.name}/{unit}/seed{cfg.seed}"
    prev = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(device.type == "cpu" or prev, warn_only=True)
    try:
        res = fit(trained, train_sets, val_sets, rc, path, device, desc=desc, progress=progress,
                  stop_after_epoch=stop_after_epoch)
    finally:
        torch.use_deterministic_algorithms(prev)
    if not res.finished or rank != 0:
        if world > 1:
            dist.barrier()
        return path
    t_train = time.perf_counter() - t0
    finish(rc, path, model, train_sets, test_sets, device)
    mark_done(rc, path, res, t_train, time.perf_counter() - t0)
    if world > 1:
        dist.barrier()
    return path


def start_at_trivial(model: nn.Module, train_sets: Mapping[str, Dataset]) -> list[str]:
    """Set the prior of every head that has one (detection and regression: the mean box or keypoints) to the trivial
    predictor fitted on the training split, so those heads start where the trivial predictor is. Returns the tasks."""
    heads = getattr(model, "heads", {})
    done = []
    for t, ds in train_sets.items():
        head = heads[t] if t in heads else None
        if head is not None and hasattr(head, "set_prior"):
            head.set_prior(trivial_fit(t, normalised_train_targets(ds, t)))
            done.append(t)
    return done


def finish(rc: DictConfig, path: Path, model: nn.Module, train_sets: Mapping[str, Dataset],
           test_sets: Mapping[str, Dataset], device: torch.device) -> None:
    """Score the best checkpoint and the trivial predictor on test; write metrics, per-image tables and routing."""
    model.load_state_dict(checkpoint.load(path / "best.pt", device)["model"])
    if hasattr(model, "reset_routing_counts"):
        model.reset_routing_counts()
    amp = bool(rc.train.amp) and device.type == "cuda"
    results = evaluate(model, test_sets, device, batch_size=eval_batch_size(rc.train), amp=amp)
    routing = model.routing_counts() if hasattr(model, "routing_counts") else {}
    write_test_results(rc, path, results, routing, train_sets, test_sets)


def write_test_results(rc: DictConfig, path: Path, results: Mapping[str, tuple[dict, pd.DataFrame]],
                       routing: Mapping[str, Mapping[int, list[int]]], train_sets: Mapping[str, Dataset],
                       test_sets: Mapping[str, Dataset]) -> None:
    """``metrics.csv`` (the model's test scores beside the trivial predictor's, with bootstrap CIs),
    ``per_image.csv``, ``per_image_trivial.csv`` and ``routing.json`` of one run."""
    trivial = {t: trivial_scores(t, train_sets[t], test_sets[t]) for t in test_sets}
    n_boot = int(rc.train.n_boot)
    rows = []
    for paradigm, res in ((rc.paradigm.name, results), ("trivial", trivial)):
        rows += metric_rows(rc, paradigm, res, {t: len(train_sets[t]) for t in res},
                            {t: len(test_sets[t]) for t in res}, n_boot)
    runs.write_table(path, runs.METRICS, pd.DataFrame(rows, columns=METRIC_COLUMNS))
    for name, res in ((runs.PER_IMAGE, results), (runs.PER_IMAGE_TRIVIAL, trivial)):
        runs.write_table(path, name, pd.concat([df.assign(task=t) for t, (_, df) in res.items()], ignore_index=True))
    routing = {t: {str(b): [int(c) for c in counts] for b, counts in blocks.items()} for t, blocks in routing.items()}
    runs.write_json(path, runs.ROUTING, routing)


def mark_done(rc: DictConfig, path: Path, res, train_seconds: float, total_seconds: float,
              extra: Mapping | None = None) -> None:
    """``run.json`` (steps, model selection, timing, what the numbers depend on at float precision) and ``DONE``
    (the run hash), through :func:`m2dino.runs.mark_done`: last, after every result file. The run is finished."""
    info = {"steps": res.steps, "best_epoch": res.best_epoch, "best_val_score": res.best_score,
            "train_seconds": round(train_seconds, 2), "total_seconds": round(total_seconds, 2),
            # what else the numbers depend on at float precision: a different CPU kernel set or torch differs
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(), **dict(extra or {})}
    runs.mark_done(path, rc, info)


def metric_rows(rc: DictConfig, paradigm: str, results: Mapping[str, tuple[dict, pd.DataFrame]],
                n_train: Mapping[str, int], n_test: Mapping[str, int], n_boot: int) -> list[dict]:
    """Tidy rows of ``metrics.csv``: one per task and metric; a bootstrap 95% CI for the primary metric."""
    from m2dino.metrics import bootstrap_ci

    rows = []
    for t, (summary, per_image) in results.items():
        task = get_task(t)
        ci = bootstrap_ci(t, per_image, n_boot=n_boot, seed=int(rc.seed)) if n_boot > 0 else (np.nan, np.nan)
        for metric, value in summary.items():
            lo, hi = ci if metric == task.primary_metric else (np.nan, np.nan)
            rows.append({"profile": rc.profile.name, "paradigm": paradigm, "unit": rc.unit, "seed": int(rc.seed),
                         "task": t, "type": task.type, "group": task.group, "metric": metric, "value": float(value),
                         "ci_low": float(lo), "ci_high": float(hi), "n_train": int(n_train[t]),
                         "n_test": int(n_test[t])})
    return rows
