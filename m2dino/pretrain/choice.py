"""How the in-house backbone's objective and budget are chosen: pretrain a few variants, probe each on val, compare.

``python -m m2dino.pretrain.choice --out DIR --variant mim400=mim:400 --variant dino235=dino:235:64 [overrides]``
pretrains each variant (``name=objective:steps[:batch_size]``, through the cache of ``store``, so a variant equal to
the profile's default is the very backbone the study then uses), probes it with ``probe.run_probes`` (train split
fits, val scores), and writes ``DIR/<name>.csv`` (per-image val tables) and ``DIR/<name>.json`` (CPU seconds of the
pretraining, loss at the start and end). Each variant is a separate, complete run with its own warmup and cosine
schedule: a snapshot taken half-way through a longer run is not the backbone the shorter budget would give.
``--variant random=none:0`` probes the random initialisation that every pretraining starts from.
``--summarise`` then reads DIR and writes ``DIR/comparisons.csv`` (``probe.summarise`` for each pair asked for).

The rule of :func:`smallest_not_worse`: the smallest budget whose paired 95% interval of the change against the
largest budget lies below zero on no probe task. Run choices on a data seed other than the final demo's (see
``m2dino/pretrain/__init__.py`` for the runs behind the profile's values).
"""
from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import torch
from omegaconf import DictConfig

from m2dino import atomic
from m2dino.config import load
from m2dino.synth.source import ensure_data
from m2dino.pretrain import probe, store
from m2dino.pretrain.loop import create_backbone
from m2dino.threads import torch_threads


def parse_variant(text: str) -> tuple[str, dict[str, object]]:
    """``name=objective:steps[:batch_size]`` -> (name, pretrain overrides); objective ``none`` = random init."""
    try:
        name, spec = text.split("=", 1)
        parts = spec.split(":")
        over: dict[str, object] = {"objective": parts[0], "steps": int(parts[1])}
        if len(parts) > 2:
            over["batch_size"] = int(parts[2])
    except (ValueError, IndexError) as err:
        raise ValueError(f"--variant {text!r}: expected name=objective:steps[:batch_size]") from err
    return name, over


def variant_cfg(cfg: DictConfig, over: dict[str, object]) -> DictConfig:
    c = cfg.copy()
    for k, v in over.items():
        c.pretrain[k] = v
    return c


def run_variant(cfg: DictConfig, name: str, over: dict[str, object], out: Path) -> None:
    """Pretrain (or find cached) and probe one variant; write its per-image val table and its cost."""
    info: dict[str, object] = {"name": name, **over, "data_seed": int(cfg.data.seed)}
    if over["objective"] == "none":
        torch.manual_seed(int(cfg.pretrain.seed))  # the initialisation every pretraining starts from
        backbone = create_backbone(cfg).eval()
    else:
        c = variant_cfg(cfg, over)
        cached = store.backbone_path(c).is_file()
        t0 = time.process_time()
        store.ensure_pretrained(c)
        log = store.load_log(c)
        k = max(1, len(log) // 10)
        earlier = json.loads((out / f"{name}.json").read_text()) if (out / f"{name}.json").is_file() else {}
        info.update({"hash": store.pretrain_dir(c).name, "cached": cached,  # a cache hit keeps the measured cost
                     "cpu_s": earlier.get("cpu_s") if cached else round(time.process_time() - t0, 1),
                     "wall_s_logged": round(float(log.seconds.iloc[-1]), 1),
                     "loss_first10": round(float(log.loss.iloc[:k].mean()), 4),
                     "loss_last10": round(float(log.loss.iloc[-k:].mean()), 4)})
        backbone = store.load_backbone(c)
    with torch_threads(cfg.pretrain.threads):
        per_image = probe.run_probes(cfg, {name: backbone})
    atomic.to_csv(per_image, out / f"{name}.csv", index=False)  # a cache: a half-written one would be read later
    atomic.write_text(out / f"{name}.json", json.dumps(info, indent=1))


def smallest_not_worse(comparisons: pd.DataFrame, largest: str, budgets: Sequence[str]) -> str:
    """The first of ``budgets`` (smallest first) whose paired CI against ``largest`` is below 0 on no task."""
    for b in budgets:
        if b == largest:
            return b
        rows = comparisons[(comparisons.reference == largest) & (comparisons.candidate == b)]
        if rows.empty:
            raise ValueError(f"no comparison of {b} against {largest}")
        if not (rows.change_hi < 0).any():
            return b
    return largest


def summarise(cfg: DictConfig, out: Path, pairs: Sequence[tuple[str, str]]) -> pd.DataFrame:
    """``probe.summarise`` of each (reference, candidate) pair read from ``out``; written to comparisons.csv."""
    tables = []
    for ref, cand in pairs:
        per_image = pd.concat([pd.read_csv(out / f"{n}.csv") for n in (ref, cand)], ignore_index=True)
        s = probe.summarise(per_image, ref, cand, n_boot=int(cfg.plan.probe.n_boot), seed=int(cfg.pretrain.seed))
        s = s.rename(columns={ref: "ref", f"{ref}_lo": "ref_lo", f"{ref}_hi": "ref_hi", cand: "cand",
                              f"{cand}_lo": "cand_lo", f"{cand}_hi": "cand_hi"})
        s.insert(0, "candidate", cand)
        s.insert(0, "reference", ref)
        tables.append(s[[c for c in s.columns if not c.endswith(("_acc", "_acc_lo", "_acc_hi"))]])
    table = pd.concat(tables, ignore_index=True)
    atomic.to_csv(table, out / "comparisons.csv", index=False)
    return table


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="folder for the per-variant val tables")
    ap.add_argument("--variant", action="append", default=[], help="name=objective:steps[:batch_size]")
    ap.add_argument("--pair", action="append", default=[], help="reference,candidate to summarise")
    ap.add_argument("overrides", nargs="*", help="config overrides, e.g. profile=demo data.seed=0")
    args = ap.parse_args(argv)
    cfg = load(list(args.overrides))
    args.out.mkdir(parents=True, exist_ok=True)
    if args.variant:
        ensure_data(cfg)  # the choice is made on the synthetic benchmark (generated here if missing; idempotent)
    for text in args.variant:
        name, over = parse_variant(text)
        print(f"{time.strftime('%H:%M:%S')} {name}: {over}", flush=True)
        run_variant(cfg, name, over, args.out)
        print(f"{time.strftime('%H:%M:%S')} {name}: done", flush=True)
    if args.pair:
        table = summarise(cfg, args.out, [tuple(p.split(",")) for p in args.pair])
        print(table.round(3).to_string(index=False))


if __name__ == "__main__":
    main()
