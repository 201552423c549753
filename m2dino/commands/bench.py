"""Run the benchmarks in ``m2dino/benchmarks`` and write their figures to ``results/bench.json``.

Benchmarks measure and print; none is a pass/fail test. Each module there has ``NAME`` and ``run(cfg) -> dict``.
``only=[name,...]`` picks some; other overrides go to the config (e.g. profile=demo).
"""
from __future__ import annotations

import datetime as _dt
import importlib
import json
import pkgutil
import platform
from pathlib import Path

import torch

import m2dino.benchmarks as _benchmarks
from m2dino import atomic
from m2dino.commands import list_option
from m2dino.config import load
from m2dino.paths import RESULTS

HELP = "measure speed and memory (generator, loader, MoE overhead, utilisation); writes results/bench.json"


def main(argv: list[str]) -> int:
    only = None
    rest = []
    for a in argv:
        if a.startswith("only="):
            only = list_option(a.split("=", 1)[1])
        else:
            rest.append(a)
    cfg = load(rest)
    names = [m.name for m in pkgutil.iter_modules(_benchmarks.__path__) if not m.name.startswith("_")]
    if only:
        unknown = sorted(set(only) - set(names))
        if unknown:
            print(f"unknown benchmarks {unknown}; known: {names}")
            return 2
        names = [n for n in names if n in only]
    out_path = (Path(cfg.results_dir) if cfg.results_dir else RESULTS) / "bench.json"
    report = json.loads(out_path.read_text()) if out_path.exists() else {}
    machine = {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
               "torch": torch.__version__, "threads": torch.get_num_threads(),
               "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
    for name in names:
        mod = importlib.import_module(f"m2dino.benchmarks.{name}")
        print(f"== {name}")
        res = mod.run(cfg)
        for k, v in res.items():
            print(f"  {k}: {v}")
        report[name] = {"date": _dt.date.today().isoformat(), "profile": cfg.profile.name, "machine": machine,
                        "results": res}
    out_path.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_text(out_path, json.dumps(report, indent=2, sort_keys=True))
    print(f"wrote {out_path}")
    return 0
