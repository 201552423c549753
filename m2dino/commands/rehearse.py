"""Rehearse the paper run on CPU before spending GPU hours on it: ``python -m m2dino rehearse profile=paper``.

ViT-B/16 DINOv3 at 224 px with the paper's MoE and heads, weights from a random-valued file in Meta's format, data made
up in the FMC_UIA release's layout, through the same commands a real run uses: ``validate``, ``train`` of one TS, one
CG and the AU unit, their checkpoints, ``predict`` and ``evaluate``. Prints, per paradigm, the parameters, the
median step time and the peak memory, and writes them to ``results/rehearse.json``; exits 1 on any failure.
Settings: ``bench.rehearse`` (m2dino/conf/config.yaml); other overrides go to every command. It took 33 minutes on this
project's 2-core build machine under a load average of 8-12 (other jobs running); ~10 GB of disk for the checkpoints
while it runs (deleted at the end unless bench.rehearse.keep=true).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from m2dino.config import load
from m2dino.paths import RESULTS

HELP = "rehearse a profile's real run on CPU at tiny counts (profile=paper): validate, train TS/CG/AU, predict, evaluate"


def main(argv: list[str]) -> int:
    from m2dino.checks.rehearse import RehearsalError, rehearse, summary

    cfg = load(argv)
    own = ("profile", "results_dir", "data.root", "model.weights")  # the rehearsal sets these for every command
    overrides = [a for a in argv if a.split("=", 1)[0].lstrip("+~") not in own
                 and not a.lstrip("+~").startswith("bench.")]
    try:
        report = rehearse(cfg, overrides)
    except RehearsalError as e:
        print(f"\nrehearse: FAILED: {e}", file=sys.stderr)
        return 1
    out = (Path(cfg.results_dir) if cfg.results_dir else RESULTS) / "rehearse.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    print("\n" + summary(report) + f"\nwrote {out}")
    return 0
