"""Print the study's main tables from one profile's runs and write them as CSV to ``results/<profile>/tables/``.

Usage: ``python -m m2dino report profile=demo [n_boot=...]`` (default: the profile's ``n_boot`` in
``conf/analysis.yaml``; ``n_boot=0``: point estimates only, no intervals). Reads every run folder under
``results/<profile>/`` (``results_dir=`` moves the root) and writes every table through
``m2dino.analysis.publish.write_report``, the one writer of ``tables/``; tables whose runs are missing are listed,
not faked. Primary: ``beats_trivial.csv`` (TS against the trivial predictor per task and seed),
``delta_s_task.csv`` (Δs on the headroom scale with crossed seed x image intervals and Holm), and ``verdicts.csv``
(each claim of the study by its declared test; docs/analysis.md). Secondary: relative changes in % and Δm
(``m2dino.analysis.delta_m.CONVENTION``).
"""
from __future__ import annotations

import sys

import pandas as pd

from m2dino.analysis.delta_m import CONVENTION
from m2dino.study.schedule import current
from m2dino.analysis.publish import tables_dir, write_report
from m2dino.analysis.tidy import NoResultsError
from m2dino.config import load

HELP = "print the main tables (beats trivial, Δs vs TS, verdicts, relative change, Δm) and write them as CSV"
SHOWN = {"delta_s_task": ["experiment", "comparison", "task", "group", "type", "s_ts", "s_paradigm", "delta_s", "ci_low",
                          "ci_high", "p_holm", "transfer"],
         "delta_s_all": ["experiment", "comparison", "n_tasks", "delta_s", "ci_low", "ci_high", "mde", "n_seeds"],
         "delta_s_type": ["experiment", "comparison", "type", "n_tasks", "delta_s", "ci_low", "ci_high"],
         "verdicts": ["claim", "grade", "experiment", "estimate", "ci_low", "ci_high", "mde", "delta", "verdict"],
         "verdict_sensitivity": None, "aa_check": ["level", "name", "estimate", "ci_low", "ci_high", "p", "p_holm",
                                                   "verdict", "flagged", "flagged_holm"],
         "task_change": ["comparison", "task", "group", "type", "change", "ci_low", "ci_high", "n_seeds"],
         "group_change": None, "type_change": None, "delta_m": None, "delta_m_by_type": None,
         "negative_transfer_by_type": None, "study_vs_ours": ["what", "task", "group", "paradigm_label", "study",
                                                              "study_unit", "study_source", "ours", "ours_unit"],
         "ablation_baseline_delta_m": None, "guideline": ["scale", "type", "n_tasks", "recommended", "evidence"],
         "notes": None}


def pop_option(argv: list[str], key: str, default: str) -> tuple[str, list[str]]:
    """Take ``key=value`` out of the overrides (options of the command, not config keys)."""
    val, rest = default, []
    for a in argv:
        if a.startswith(f"{key}="):
            val = a.split("=", 1)[1]
        else:
            rest.append(a)
    return val, rest


def main(argv: list[str]) -> int:
    n_boot, argv = pop_option(argv, "n_boot", "")
    cfg = load(argv)
    try:  # every planned run judged against today's config: stale runs are named and not read
        run_table = current(cfg.profile.name, [a for a in argv if not a.startswith("profile=")])
        tables = write_report(cfg, n_boot=int(n_boot) if n_boot else None, run_table=run_table)
    except (NoResultsError, ValueError) as e:
        print(f"report: {e}", file=sys.stderr)
        return 1
    except FileNotFoundError as e:  # e.g. a run from before per_image_trivial.csv existed: say which file
        print(f"report: {e}; rerun that run, or use n_boot=0 for point estimates only", file=sys.stderr)
        return 1
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.max_colwidth", 90,
                           "display.float_format", "{:.3f}".format):
        for name, cols in SHOWN.items():
            if name in tables:
                print(f"\n== {name}" + (f"  ({CONVENTION})" if name.startswith("delta_m") else ""))
                print(tables[name][cols or tables[name].columns].to_string(index=False))
    print(f"\nwrote {len(tables)} tables and what_we_found.md to {tables_dir(cfg)}")
    return 0
