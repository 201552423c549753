"""Generate the synthetic benchmark for a profile into data/synthetic/<profile>/ (or data.root).

A rerun with the same specification is a no-op; a different existing dataset is replaced only with
``runtime.overwrite=true``. Example: ``python -m m2dino generate profile=demo``.
"""
from __future__ import annotations

import time

from m2dino.config import load
from m2dino.paths import data_root

HELP = "generate the synthetic benchmark (FMC_UIA layout) for a profile into data/synthetic/<profile>/"


def main(argv: list[str]) -> int:
    from m2dino.synth.generate import write_dataset

    cfg = load(argv)
    if cfg.data.source != "synthetic":
        print(f"generate makes synthetic data; data.source is {cfg.data.source!r} (use data=synthetic)")
        return 2
    root = data_root(cfg)
    t0 = time.perf_counter()
    try:
        man = write_dataset(cfg, root, progress=True)
    except FileExistsError as e:
        print(f"generate: {e}")
        return 1
    n = sum(sum(c.values()) for c in man["counts"].values())
    print(f"{root}: {n} images for {len(man['counts'])} tasks (synthetic), content hash {man['content_hash'][:12]}, "
          f"{time.perf_counter() - t0:.1f} s")
    return 0
