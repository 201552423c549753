"""Simulation-based calibration of the inference behind every interval, p-value, MDE and verdict.

Usage: ``python -m m2dino calibrate [small=true] [workers=N] [replicates=N] [claim_replicates=N] [ks=[3,5]]
[regimes=[demo,...]] [out=DIR]`` (``replicates``: every world's; ``claim_replicates``: the claim worlds' only;
``regimes``: some of the config's regimes, e.g. the demo's alone after a new demo run; their summary goes to
``results/calibration/regimes_<names>/`` unless ``out=`` says otherwise, so the full run's summary is kept).

Simulated results with known true effects, on the demo's design (K = 3 and 5 seeds, 128 test images per task shared
by every seed and paradigm, 27 tasks in their clinical groups, the data-scale fractions), in three variance regimes
(seed variance dominant; image effects dominant and persistent across seeds; the variance components of the latest
demo run's ``delta_s_task.csv``, or of ``conf/analysis.yaml`` when there is none), go through the analysis from the
tidy table on (the first replicates through run folders on disk). Printed and written to
``results/calibration/summary.{json,csv,md}``: the coverage of the 95% intervals (per-task Δs, group mean, slope),
the type-I error and the family-wise error rate, the power at the printed MDE and, per claim, the share of agree /
disagree / equivalent in worlds where it holds, fails and is null; each with its Monte-Carlo SE. Settings:
``conf/analysis.yaml: calibration`` (``small=true``: its ``small`` block, the version ``make test`` runs).
Exits 0 when every figure meets its bound (docs/analysis.md, "Calibration"), 1 otherwise.
"""
from __future__ import annotations

import dataclasses
import os
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

from m2dino.commands import list_option
from m2dino.commands.report import pop_option

HELP = "check by simulation that intervals cover, tests hold their error rate and each claim rule can fail both ways"


def main(argv: list[str]) -> int:
    from m2dino.analysis.calibration import (OUT_DIR, calibrate, digest, markdown, setup_from_config,
                                           write_summary)

    small, argv = pop_option(argv, "small", "false")
    workers, argv = pop_option(argv, "workers", "")
    replicates, argv = pop_option(argv, "replicates", "")
    ks, argv = pop_option(argv, "ks", "")
    claim_reps, argv = pop_option(argv, "claim_replicates", "")
    only, argv = pop_option(argv, "regimes", None)  # None: every regime; "" or "[]" names none (an error)
    out, argv = pop_option(argv, "out", "")
    if argv:
        print(f"calibrate: unknown options {argv} (small=, workers=, replicates=, claim_replicates=, ks=, regimes=, "
              "out=)")
        return 2
    setup, source = setup_from_config(small=small.lower() in ("1", "true", "yes"),
                                      workers=int(workers) if workers else None,
                                      replicates=int(replicates) if replicates else None,
                                      ks=[int(k) for k in list_option(ks)] if ks else None)
    if claim_reps:
        setup = dataclasses.replace(setup, claim_replicates=int(claim_reps))
    out_dir = Path(out) if out else OUT_DIR
    if only is not None:
        names = list_option(only)
        known = [r.name for r in setup.regimes]
        if not names:
            print(f"calibrate: regimes={only!r} names no regime; known: {known} (leave regimes= out for all)")
            return 2
        if set(names) - set(known):
            print(f"calibrate: regimes={only}: unknown regime(s) {sorted(set(names) - set(known))}; known: {known}")
            return 2
        setup = dataclasses.replace(setup, regimes=tuple(r for r in setup.regimes if r.name in names))
        if not out:  # a partial run never overwrites the full run's summary
            out_dir = OUT_DIR / ("regimes_" + "_".join(r.name for r in setup.regimes))
    load0 = os.getloadavg()
    print(f"calibrate: K {list(setup.ks)}, {setup.n_images} images, {len(setup.tasks)} tasks, fractions "
          f"{list(setup.fractions)}; regimes " + ", ".join(
              f"{r.name} (seed SD {r.seed_sd:g}{' median, each task its own' if r.per_task else ''}, image SD "
              f"{r.image_sd:g}, interaction SD {r.resid_sd:g}{', a stress world' if r.name in setup.stress else ''})"
              for r in setup.regimes) + f"; demo regime {source}")
    print(f"calibrate: {setup.replicates} null, {setup.power_replicates} power and {setup.claim_replicates} "
          f"replicates per claim world, {setup.workers} worker(s); load average {load0[0]:.1f} on "
          f"{os.cpu_count()} cores")
    t0, cpu0 = time.time(), time.process_time()
    figures = calibrate(setup, log=lambda m: print(m, flush=True))
    meta = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "seconds": round(time.time() - t0, 1),
            "cpu_seconds_main_process": round(time.process_time() - cpu0, 1), "workers": setup.workers,
            "cpu_count": os.cpu_count(), "load_average_start": round(load0[0], 2),
            "load_average_end": round(os.getloadavg()[0], 2), "machine": platform.processor() or platform.machine(),
            "demo_regime": source, "small": setup.slack_se > 0}
    path = write_summary(figures, setup, meta, out_dir)
    print(markdown(figures))
    print(digest(figures))
    binding = figures[figures["binding"]]
    bad = binding[~binding["ok"]]
    print(f"calibrate: {len(binding) - len(bad)} of {len(binding)} figures meet their bounds "
          f"({meta['seconds']:.0f} s, load average {meta['load_average_start']} -> {meta['load_average_end']}); "
          f"wrote {path}")
    for r in bad.itertuples():
        print(f"  MISSED: {r.regime} K={r.k} {r.figure} ({r.what}) = {r.value:.3f} ± {r.mc_se:.3f}, bound "
              f"[{r.bound_low:.3f}, {r.bound_high:.3f}]")
    return 0 if bad.empty else 1
