"""Check a dataset before anything trains on it: ``python -m m2dino validate data.root=DIR [tasks=[a,b]]``.

Prints the per-task summary (counts per split, image sizes, channels, class balance), then every error with its file
and CSV row, then warnings. Exits 1 when there are errors. The report is cached under results/validation/ (keyed by
a hash of the CSVs and of every referenced file's size and mtime); ``+no_cache=true`` forces a fresh check.
Without ``data.root``, checks the profile's synthetic dataset (data/synthetic/<profile>).
"""
from __future__ import annotations

from m2dino.config import load
from m2dino.data.errors import DataError
from m2dino.data.validate import validate_dataset
from m2dino.paths import data_root

HELP = "check a dataset (FMC_UIA or simple layout): per-task summary, errors with file and row; non-zero on errors"


def main(argv: list[str]) -> int:
    no_cache = any(a.lstrip("+") in ("no_cache=true", "no_cache=True") for a in argv)
    argv = [a for a in argv if not a.lstrip("+").startswith("no_cache=")]
    cfg = load(argv)
    root = data_root(cfg)
    tasks = list(cfg.tasks) if cfg.get("tasks") else None
    try:
        report = validate_dataset(root, tasks, use_cache=not no_cache,
                                  min_train=int(cfg.runtime.min_train_warn))
    except DataError as e:
        print(f"ERROR: {e}")
        return 1
    print(report.format(max_problems=int(cfg.runtime.max_reported)))
    return 0 if report.ok else 1
