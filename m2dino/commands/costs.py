"""What a reproduction cost: ``python -m m2dino costs profile=demo [results_dir=...]``.

Reads every run folder's ``run.json`` under ``results/<profile>/`` and papermill's record of each executed notebook in
``results/<profile>/notebooks/``, prints the unit seconds per experiment and paradigm, the floor they set on the wall
time at ``runtime.unit_workers`` processes and at 4, 8 and 16 cores (``m2dino.analysis.costs.projected_wall``), and
each notebook's time, and writes them to
``results/<profile>/costs/{units,notebooks}.csv``. Times are measurements of that run on that machine, so they are kept
apart from ``tables/``, whose files are the same on every rerun.
"""
from __future__ import annotations

import sys

import pandas as pd

from m2dino import atomic
from m2dino.config import load
from m2dino.paths import results_dir

HELP = "what a reproduction cost: unit seconds per experiment and paradigm, their floor, each notebook's time"


def main(argv: list[str]) -> int:
    from m2dino.analysis.costs import PROJECTED_CORES, cost_table, notebook_times, projected_wall, run_costs, unit_floor

    cfg = load(argv)
    root = results_dir(cfg)
    try:
        runs = run_costs(root)
        notebooks = notebook_times(root / "notebooks")
    except ValueError as e:
        print(f"costs: {e}", file=sys.stderr)
        return 1
    if runs.empty and notebooks.empty:
        print(f"costs: no finished runs and no executed notebooks under {root}; run `make reproduce "
              f"PROFILE={cfg.profile.name}` (or train some runs) first", file=sys.stderr)
        return 1
    table = cost_table(runs)
    workers = max(1, int(cfg.runtime.unit_workers))
    out = root / "costs"
    out.mkdir(parents=True, exist_ok=True)
    atomic.to_csv(table.round(3), out / "units.csv", index=False)
    atomic.to_csv(notebooks.round(3), out / "notebooks.csv", index=False)
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.float_format", "{:.2f}".format):
        if len(table):
            print(f"== training units under {root} (seconds in each unit's own process)")
            print(table.to_string(index=False))
            total = float(runs["total_seconds"].sum())
            floor = unit_floor(runs, workers)
            print(f"\n{len(runs)} runs, {total:,.0f} unit seconds; at runtime.unit_workers={workers}, no schedule can "
                  f"train them in less than {floor:,.0f} s ({floor / 60:.1f} min) of wall time")
            longest = float(runs["total_seconds"].max())
            print("projected onto more cores (the least any schedule allows: the unit seconds spread over "
                  f"cores / {int(runs['threads'].max())} thread(s) per unit, or the longest unit, {longest:,.0f} s, "
                  "if longer; each unit as fast as here; units only, not data, pretraining or analysis): "
                  + ", ".join(f"{c} cores {projected_wall(runs, c) / 60:.1f} min" for c in PROJECTED_CORES))
        if len(notebooks):
            print("\n== executed notebooks (papermill's duration)")
            print(notebooks[["notebook", "seconds"]].to_string(index=False))
            print(f"\nnotebooks: {notebooks['seconds'].sum():,.0f} s ({notebooks['seconds'].sum() / 60:.1f} min) "
                  "in all, kernel starts not included")
    print(f"\nwrote {out / 'units.csv'} and {out / 'notebooks.csv'}")
    return 0
