"""A rehearsal of the paper run on CPU: the paper profile's real code path, full model and input size, tiny counts.

What a user with the FMC_UIA release, Meta's weights and a GPU runs, done end to end on a CPU before they spend
hours: ViT-B/16 DINOv3 at 224 px with the paper's MoE and heads, its weights from a random-valued file in Meta's
format (:mod:`m2dino.checks.meta_weights`) passed as ``model.weights=`` like real weights, data in the release's layout
with its variety (:mod:`m2dino.checks.release_data`) passed as ``data.root=``; then, each as its own ``python -m
m2dino`` command: ``validate``; ``train`` of one TS unit, one CG unit and the AU unit (a few steps each); the AU run's
checkpoints read back; ``predict`` on the val split (the release's test set is hidden) and ``evaluate``. Any failure
stops it with the command that failed. It prints, per paradigm, the parameters trained, the median time of a whole
training step and the peak memory of the training process, and writes them to ``results/rehearse.json``.

Settings: ``bench.rehearse`` in ``m2dino/conf/config.yaml``; any other override goes to every command (e.g.
``train.threads=2``). The timings are CPU figures of this machine, not what a GPU will do (``gpucheck`` measures that).
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import torch
from omegaconf import DictConfig, OmegaConf

from m2dino.checks.meta_weights import write_meta_checkpoint
from m2dino.checks.release_data import write_release
from m2dino.paths import RESULTS, REPO
from m2dino import runs
from m2dino.runs import run_path
from m2dino.registry import task_ids

PARADIGMS = (("TS", "single"), ("CG", "clinical"), ("AU", "all"))


class RehearsalError(RuntimeError):
    """A step of the rehearsal failed; the message names it and the command."""


def _command(step: str, argv: list[str], log: Path | None = None) -> float:
    """Run ``python -m m2dino <argv>`` (or a module given as ``-m``), showing its output; seconds taken."""
    cmd = [sys.executable, *(argv if argv[0] == "-m" else ["-m", "m2dino", *argv])]
    print(f"\n== {step}: {' '.join(cmd[1:])}", flush=True)
    t0 = time.perf_counter()
    env = dict(os.environ, M2DINO_HEADLESS="1")  # one line per unit, not every redraw of a progress bar
    rc = subprocess.run(cmd, cwd=REPO, env=env).returncode
    if rc != 0:
        raise RehearsalError(f"{step} failed (exit {rc}): {' '.join(cmd)}")
    return time.perf_counter() - t0


def _read_checkpoint(path: Path, keys: tuple[str, ...]) -> float:
    """Size in GiB of a checkpoint that loads safely (``weights_only``, memory-mapped) and holds ``keys``."""
    ck = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    missing = [k for k in keys if k not in ck]
    if missing:
        raise RehearsalError(f"{path}: checkpoint lacks {missing}")
    return path.stat().st_size / 2**30


def _unit_overrides(r: DictConfig, paradigm: str) -> list[str]:
    if paradigm == "single":
        return ["paradigm=single", f"tasks=[{r.single}]", f"train.min_steps={int(r.min_steps)}"]
    if paradigm == "clinical":
        return ["paradigm=clinical", f"unit={r.clinical}", f"train.min_steps={int(r.min_steps)}"]
    return ["paradigm=all"]


def rehearse(cfg: DictConfig, overrides: list[str]) -> dict:
    """Run the rehearsal for the profile of ``cfg`` (``bench.rehearse`` settings); raise :class:`RehearsalError`."""
    r = cfg.bench.rehearse
    results = Path(cfg.results_dir) if cfg.results_dir else RESULTS
    out = Path(r.out) if r.out else results / "rehearse"
    if out.exists():
        shutil.rmtree(out)
    t_start = time.perf_counter()
    load_start = os.getloadavg()[0]
    m = cfg.model
    weights, _ = write_meta_checkpoint(out / "weights" / f"dinov3_{m.arch}_rehearsal.pth", str(m.arch),
                                       int(m.img_size), OmegaConf.to_container(m.overrides, resolve=True))
    data = write_release(out / "FMC_UIA", dict(OmegaConf.to_container(r.images, resolve=True)))
    runs = out / "results"
    common = [f"profile={cfg.profile.name}", f"data.root={data}", f"model.weights={weights}", f"results_dir={runs}",
              f"profile.device={r.device}", "train.epochs=1", f"train.batch_size={int(r.batch_size)}", *overrides]
    report: dict = {"profile": cfg.profile.name, "arch": str(m.arch), "img_size": int(m.img_size),
                    "device": str(r.device), "weights": str(weights), "data": str(data), "steps": {}}
    report["steps"]["validate_s"] = round(_command("validate", ["validate", *common, "no_cache=true"]), 1)
    units = {}
    for short, paradigm in PARADIGMS:
        stats = out / f"train_{paradigm}.json"
        _command(f"train {short}", ["-m", "m2dino.checks.timed", str(stats), "train", *common,
                                    *_unit_overrides(r, paradigm)])
        units[short] = _unit_figures(json.loads(stats.read_text()), runs / cfg.profile.name / paradigm)
        print(f"   {short}: {_row(short, units[short])}", flush=True)
    report["units"] = units

    au = run_path(runs / cfg.profile.name, "all", "all", int(cfg.seed))
    report["checkpoints_GiB"] = {
        "last.pt": round(_read_checkpoint(au / "last.pt", ("model", "optimizer", "scheduler", "rng", "step")), 2),
        "best.pt": round(_read_checkpoint(au / "best.pt", ("model", "epoch", "score")), 2)}
    pred = out / "predictions"
    report["steps"]["predict_s"] = round(_command("predict", ["predict", *common, f"run={au}", f"out={pred}",
                                                              "split=val"]), 1)
    report["steps"]["evaluate_s"] = round(_command("evaluate", ["evaluate", *common, f"predictions={pred}",
                                                                "split=val"]), 1)
    scored = set(pd.read_csv(pred / "scores_val.csv")["task"])
    if scored != set(task_ids()):
        raise RehearsalError(f"evaluate scored {len(scored)} of {len(task_ids())} tasks: {pred / 'scores_val.csv'}")
    if not r.keep:
        for f in out.rglob("*.pt"):
            f.unlink()
    report.update({"total_s": round(time.perf_counter() - t_start, 1), "date": _dt.datetime.now().isoformat(
        timespec="seconds"), "machine": {"platform": platform.platform(), "processor": platform.processor(),
                                         "cpus": os.cpu_count(), "torch": torch.__version__},
                   "load_avg_1min": [round(load_start, 2), round(os.getloadavg()[0], 2)]})
    return report


def _unit_figures(stats: dict, paradigm_dir: Path) -> dict:
    """Parameters, steps, median whole-step time and peak memory of one unit's training process."""
    ends = stats["step_ends"]
    gaps = [b - a for a, b in zip(ends, ends[1:])]
    dirs = [d for d in paradigm_dir.glob("*/seed*") if (d / runs.DONE).exists()]
    if len(dirs) != 1:
        raise RehearsalError(f"{paradigm_dir}: expected one finished run, found {len(dirs)}")
    run = json.loads((dirs[0] / "run.json").read_text())
    out = {"unit": dirs[0].parent.name, "params_M": round(stats["params"] / 1e6, 2), "steps": len(ends),
           "step_s_median": round(statistics.median(gaps), 2) if gaps else None,
           "peak_rss_GiB": stats["peak_rss_GiB"], "process_s": stats["seconds"], "unit_s": run["total_seconds"]}
    if "cuda_max_allocated_GiB" in stats:
        out["cuda_max_allocated_GiB"] = stats["cuda_max_allocated_GiB"]
    return out


def _row(short: str, u: dict) -> str:
    step = "n/a" if u["step_s_median"] is None else f"{u['step_s_median']:.2f} s"
    return (f"{u['unit']}: {u['params_M']:.1f} M parameters trained, {u['steps']} steps, median step {step}, "
            f"peak RSS {u['peak_rss_GiB']:.1f} GiB, unit {u['unit_s']:.0f} s")


def summary(report: dict) -> str:
    """The figures, as printed at the end."""
    lines = [f"rehearsal of profile {report['profile']} ({report['arch']}, {report['img_size']} px, device "
             f"{report['device']}): every step passed in {report['total_s']:.0f} s "
             f"(load average {report['load_avg_1min'][0]} at the start, {report['load_avg_1min'][1]} at the end)"]
    for short, u in report["units"].items():
        lines.append(f"  {short} {_row(short, u)}")
    ck = report["checkpoints_GiB"]
    lines.append(f"  AU checkpoints: last.pt {ck['last.pt']} GiB, best.pt {ck['best.pt']} GiB; steps: "
                 + ", ".join(f"{k} {v} s" for k, v in report["steps"].items()))
    lines.append("  (a median step is the interval between two optimiser steps' ends: batch, forward, backward, step; "
                 "CPU figures of this machine under its load, not a GPU's)")
    return "\n".join(lines)
