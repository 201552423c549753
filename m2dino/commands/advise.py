"""Recommend single, clinical-group or all-task training for tasks, fitted from one profile's runs.

Usage: ``python -m m2dino advise tasks.yaml profile=demo [n_boot=500]``, where tasks.yaml is
``tasks: [breast_lesion, {id: my_task, type: segmentation, n_train: 300}]``. The evidence is a regression of the
per-task change against TS on log training-set size and task type, fitted to every measured change of the profile
(main and data-scale experiments), with a bootstrap over tasks for its uncertainty. Without results it refuses.
"""
from __future__ import annotations

import sys

import pandas as pd

from m2dino.analysis.advisor import AdvisorError, advise, effects, fit, read_queries
from m2dino.analysis.report import data_scale_changes
from m2dino.analysis.change import task_changes
from m2dino.analysis.tidy import NoResultsError, provenance, tidy_results
from m2dino.commands.report import pop_option
from m2dino.config import load
from m2dino.paths import results_dir

HELP = "recommend TS / CG / AU per task (tasks.yaml), fitted from this profile's results"


def measured_changes(tidy: pd.DataFrame) -> pd.DataFrame:
    """Point changes against TS of the main and data-scale experiments (no intervals: the fit has its own)."""
    parts = []
    have = set(tidy.loc[tidy["experiment"] == "main", "paradigm"])
    if "single" in have and have & {"clinical", "all"}:
        parts.append(task_changes(tidy, "main", bootstrap=False))
    ds = data_scale_changes(tidy, bootstrap=False)
    if len(ds):
        parts.append(ds[ds["experiment"] != "main"])
    if not parts:
        raise AdvisorError("no experiment has TS runs next to CG or AU runs: nothing to fit")
    return pd.concat(parts, ignore_index=True)


def main(argv: list[str]) -> int:
    files = [a for a in argv if "=" not in a]
    if len(files) != 1:
        print("usage: python -m m2dino advise tasks.yaml [profile=...] [n_boot=500]", file=sys.stderr)
        return 2
    n_boot, rest = pop_option([a for a in argv if "=" in a], "n_boot", "500")
    cfg = load(rest)
    try:
        queries = read_queries(files[0])
        tidy = tidy_results(results_dir(cfg))
        changes = measured_changes(tidy)
        out = advise(changes, queries, n_boot=int(n_boot))
        eff = effects(fit(changes, n_boot=int(n_boot)))
    except (AdvisorError, NoResultsError, ValueError) as e:
        print(f"advise: refused: {e}", file=sys.stderr)
        return 1
    print(f"evidence: {provenance(tidy)}; results under {results_dir(cfg)}")
    print("fitted effects on the change vs TS (%, positive = better), 90% bootstrap intervals over tasks:")
    print(eff.round(2).to_string(index=False))
    print()
    with pd.option_context("display.width", 200, "display.max_colwidth", 120):
        for r in out.to_dict("records"):
            print(f"{r['task']} ({r['type']}, n_train {r['n_train']:g}): {r['recommendation']}")
            if r["recommendation"] != "refused":
                for p, nm in (("clinical", "CG"), ("all", "AU")):
                    if f"{p}_change" in r:
                        print(f"  predicted {nm} change vs TS {r[p + '_change']:+.1f}% "
                              f"[{r[p + '_ci90_low']:+.1f}, {r[p + '_ci90_high']:+.1f}]")
                print(f"  best in {r['p_best']:.0%} of bootstrap fits")
            print(f"  evidence: {r['evidence']}")
    return 0
