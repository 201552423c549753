"""Both cores: where do two processes with one thread each beat one process with two threads?

Trains the same few task-specific units (random init, no bootstrap; ``bench.units.epochs`` epochs, null: the
profile's whole budget, as the demo trains them) three ways in one run, on the profile's data (generated first when
synthetic and missing), and prints the wall times and their ratios:
- ``serial_1thread``: one process, ``train.threads=1`` (the configured default);
- ``serial_2threads``: one process, ``train.threads=2`` (different floats: timing only);
- ``parallel_2x1thread``: ``runtime.unit_workers=2`` processes with one thread each (worker start-up included).
The load average before and after is printed beside them: on a shared machine the ratios are not those of an idle one.
Until 2026-12-03 the units trained one epoch: the step floor (``train.min_steps``) gave them the demo's optimiser
steps, but one validation instead of three, so the runs were shorter and the workers' start-up weighed more.
"""
from __future__ import annotations

import os
import tempfile
import time

from omegaconf import DictConfig

NAME = "units"
TASKS = ["breast_2cls", "thyroid_nodule_det", "FUGC", "breast_lesion"]


def _time(cfg: DictConfig, out: str, threads: int, workers: int, epochs: int) -> float:
    from m2dino.train.paradigms import run_paradigm

    c = cfg.copy()
    c.results_dir, c.paradigm.name = out, "single"
    c.tasks, c.unit = list(TASKS), None
    c.model.weights, c.train.epochs, c.train.n_boot = None, epochs, 0
    c.train.threads, c.runtime.unit_workers = threads, workers
    t0 = time.perf_counter()
    run_paradigm(c, progress=False)
    return time.perf_counter() - t0


def run(cfg: DictConfig) -> dict:
    from m2dino.config import load
    from m2dino.synth.source import ensure_data

    cfg = load([f"profile={cfg.profile.name}", "paradigm=single", *([f"data.root={cfg.data.root}"]
                                                                     if cfg.data.get("root") else [])])
    ensure_data(cfg)
    epochs = int(cfg.bench.units.epochs or cfg.train.epochs)
    res: dict = {"units": TASKS, "epochs": epochs, "load_before": [round(x, 2) for x in os.getloadavg()]}
    with tempfile.TemporaryDirectory() as tmp:
        for key, threads, workers in (("serial_1thread", 1, 1), ("serial_2threads", 2, 1),
                                      ("parallel_2x1thread", 1, 2)):
            res[f"{key}_s"] = round(_time(cfg, os.path.join(tmp, key), threads, workers, epochs), 1)
    res["load_after"] = [round(x, 2) for x in os.getloadavg()]
    res["speedup_2threads"] = round(res["serial_1thread_s"] / res["serial_2threads_s"], 2)
    res["speedup_2processes"] = round(res["serial_1thread_s"] / res["parallel_2x1thread_s"], 2)
    return res
