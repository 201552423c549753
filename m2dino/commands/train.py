"""Train one paradigm for one seed: every unit of it, or a subset.

    python -m m2dino train paradigm=single|clinical|all grouping=clinical seed=0 profile=demo
    python -m m2dino train paradigm=clinical unit=breast            # one group
    python -m m2dino train paradigm=single tasks=[breast_lesion]    # one task
    torchrun --nproc_per_node=4 -m m2dino train paradigm=all profile=paper   # one run on 4 GPUs (DDP)

The dataset is validated first (``m2dino.data.validate``); training refuses to start on any error. Finished runs with
the same config are reused, interrupted ones resume from their ``last.pt``. Runs go to
``results/<profile>/[<experiment>/]<paradigm>/<unit>/seed<k>/``.
"""
from __future__ import annotations

import sys

from m2dino.config import load

HELP = "train a paradigm (single|clinical|all) for one seed; cached, resumable (paradigm=, unit=, tasks=, seed=)"


def main(argv: list[str]) -> int:
    from m2dino.data.errors import DataError
    from m2dino.synth.source import require_test_split
    from m2dino.data.validate import raise_if_invalid
    from m2dino.grouping import paradigm_units
    from m2dino.paths import data_root
    from m2dino.pretrain.store import check_weights
    from m2dino.analysis.tidy import collect_metrics
    from m2dino.train.ddp import distributed
    from m2dino.train.paradigms import run_paradigm
    from m2dino.analysis.paradigm_results import result_table, show_table
    from m2dino.analysis.settings import settings

    cfg = load(argv)  # configuration errors (m2dino.errors.ConfigError) name their key; the CLI prints them, exit 2
    from m2dino.study.plans import BASELINE, baseline_command

    if cfg.get("experiment") == BASELINE and cfg.model.name != BASELINE:  # would file an M2DINO run as the baseline
        print(f"train: experiment={BASELINE} holds the challenge baseline; add model={BASELINE} (the profile's: "
              f"{baseline_command(cfg.profile.name)})", file=sys.stderr)
        return 2
    units = paradigm_units(cfg)
    check_weights(cfg)
    root = data_root(cfg)
    if not root.exists():
        if cfg.data.source == "synthetic":
            print(f"train: no dataset at {root} (generate it first: python -m m2dino generate)", file=sys.stderr)
        else:
            print(f"train: data.root={root}: no such folder (it must hold the FMC_UIA release's train/ and val/, and "
                  f"a test/ you hold out)", file=sys.stderr)
        return 1
    tasks = sorted({t for ids in units.values() for t in ids})
    try:
        raise_if_invalid(root, tasks)
        require_test_split(root, tasks)
    except DataError as e:
        print(f"train: {e}", file=sys.stderr)
        return 1
    with distributed() as (rank, world):
        paths = run_paradigm(cfg, progress=rank == 0)
    if rank != 0:
        return 0
    if world > 1:
        print(f"{len(paths)} run(s) on {world} processes")
    table = result_table(collect_metrics(paths), cfg.paradigm.name, int(settings(cfg.profile.name).n_boot))
    print(show_table(table).to_string(index=False))
    print(f"\n{len(paths)} run(s) of paradigm {cfg.paradigm.name!r}, seed {cfg.seed}:", *paths, sep="\n  ")
    return 0
