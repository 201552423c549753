"""Recommend single, clinical-group or all-task training for tasks, fitted from one profile's runs.

Usage: ``python -m m2dino advise tasks.yaml profile=demo [n_boot=N] [probe=false] [estimator=lookahead]`` (``n_boot``:
the profile's in ``conf/analysis.yaml`` unless given), where
tasks.yaml is ``tasks: [breast_lesion, {id: my_task, type: segmentation, n_train: 300}]``. Two kinds of evidence, each
named in the output:

- a regression of the per-task change against TS on log training-set size and task type, fitted to every measured
  change of the profile (main and data-scale experiments), with a bootstrap over tasks for its uncertainty; without
  results it refuses;
- task affinity (``m2dino.analysis.affinity``) when a run measured it: the main AU run, or with ``probe=true`` one
  short affinity run (``affinity_probe``: an epoch of AU, settings in conf/analysis.yaml) instead of a full training,
  for a registry task that has no affinity yet.
"""
from __future__ import annotations

import sys

import pandas as pd

from m2dino.analysis.advisor import AdvisorError, advise, effects, fit, measured_changes, read_queries
from m2dino.analysis.settings import settings
from m2dino.analysis.tidy import NoResultsError, provenance, tidy_results
from m2dino.commands.report import pop_option
from m2dino.config import load
from m2dino.paths import results_dir
from m2dino.study.schedule import current

HELP = "recommend TS / CG / AU per task (tasks.yaml), fitted from this profile's results"


def affinity_part(cfg, queries: list, probe: bool, estimator: str, extra: list[str]) -> pd.DataFrame | None:
    """The affinity evidence for the queried tasks: from the main AU run when it measured affinity, else from a short
    affinity run (trained here with ``probe=true``); None when there is neither."""
    from m2dino.analysis import affinity as A

    root = results_dir(cfg)
    found = A.find_affinity(current(cfg.profile.name, extra, quiet=True))
    known = [q.id for q in queries if q.known]
    if probe and (found is None or any(t not in set(A.load_affinity(found[0])["i"]) for t in known)):
        from m2dino.study.plans import probe_plan
        from m2dino.study.schedule import ensure_runs

        s = settings(cfg.profile.name)
        ensure_runs(cfg.profile.name, probe_plan(s.affinity_probe_epochs, s.affinity_probe_every))
        found = A.affinity_runs(current(cfg.profile.name, extra, quiet=True), A.PROBE_EXPERIMENT), \
            "a short affinity run (affinity_probe)"
    if found is None:
        return None
    runs, source = found
    aff = A.load_affinity(runs)
    check = root / "tables" / "affinity_prediction_summary.csv"
    return A.affinity_advice(A.affinity_matrix(aff, estimator), A.exposure(runs), [q.id for q in queries],
                             f"{source} ({len(runs)} seed(s), {aff['step'].nunique()} measurements)", estimator,
                             pd.read_csv(check) if check.exists() else None)


def main(argv: list[str]) -> int:
    files = [a for a in argv if "=" not in a]
    if len(files) != 1:
        print("usage: python -m m2dino advise tasks.yaml [profile=...] [n_boot=N] [probe=false] "
              "[estimator=lookahead]", file=sys.stderr)
        return 2
    n_boot, rest = pop_option([a for a in argv if "=" in a], "n_boot", "")
    probe, rest = pop_option(rest, "probe", "false")
    estimator, rest = pop_option(rest, "estimator", "lookahead")
    cfg = load(rest)
    n_boot = n_boot or str(settings(cfg.profile.name).n_boot)  # the one home of the default: conf/analysis.yaml
    extra = [a for a in rest if not a.startswith("profile=")]
    try:
        queries = read_queries(files[0])
    except AdvisorError as e:
        print(f"advise: refused: {e}", file=sys.stderr)
        return 1
    try:
        aff = affinity_part(cfg, queries, probe.lower() in ("1", "true", "yes"), estimator, extra)
    except (FileNotFoundError, ValueError) as e:
        print(f"advise: affinity not used: {e}", file=sys.stderr)
        aff = None
    try:
        tidy = tidy_results(results_dir(cfg), current(cfg.profile.name, extra))  # stale runs: named, not read
        changes = measured_changes(tidy)
        out = advise(changes, queries, n_boot=int(n_boot))
        eff = effects(fit(changes, n_boot=int(n_boot)))
    except (AdvisorError, NoResultsError, ValueError) as e:
        print(f"advise: refused: {e}", file=sys.stderr)
        if aff is not None:
            print_affinity(aff)
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
            print(f"  based on: {r['evidence']}")
    if aff is not None:
        print()
        print_affinity(aff)
    else:
        print("\nno task affinity measured for this profile (train the main AU run with train.affinity.enabled=true, "
              "or add probe=true for one short affinity run)")
    return 0


def print_affinity(aff: pd.DataFrame) -> None:
    """The affinity-based recommendation per task, with what it is based on."""
    print("from task affinity (positive = the other tasks' updates lower this task's loss):")
    for r in aff.to_dict("records"):
        print(f"{r['task']}: {r['affinity_recommendation']}")
        print(f"  based on: {r['affinity_evidence']}")
