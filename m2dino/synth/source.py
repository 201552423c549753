"""Where a config's data comes from: :func:`ensure_data` gives the dataset folder, generating the synthetic benchmark
first when that is the source (idempotent: a dataset whose manifest matches is left as it is);
:func:`require_test_split` refuses, before training, a dataset that final scoring would find without a test split.

It lives with the generator, above ``m2dino.data`` (which reads datasets and never makes them), so that no import runs
from the data layer up to the generator."""
from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from m2dino.data.errors import DataError
from m2dino.paths import data_root


def ensure_data(cfg: DictConfig) -> Path:
    """The dataset folder of ``cfg``, generated first (idempotently) when the source is synthetic; a missing folder
    of real data (``data.root``) is an error naming it."""
    root = data_root(cfg)
    if cfg.data.source == "synthetic":
        from m2dino.synth.generate import write_dataset  # the generator's imports (pymust, PIL) only when used

        write_dataset(cfg, root)
    elif not root.is_dir():
        raise FileNotFoundError(f"no dataset at data.root={root}")
    return root


def require_test_split(root: Path, task_ids: list[str]) -> None:
    """Raise :class:`DataError` when a task has no test rows: a run ends by scoring its best checkpoint on test, and
    would otherwise fail there, after all its training (the FMC_UIA release as published has no test split)."""
    from m2dino.data.layout import read_records

    have = {r.task_id for r in read_records(root, list(task_ids)) if r.split == "test"}
    missing = [t for t in task_ids if t not in have]
    if missing:
        raise DataError(
            f"{root}: no test split for {len(missing)} task(s) ({', '.join(missing[:5])}"
            f"{', ...' if len(missing) > 5 else ''}): a run ends by scoring on test/, so training would fail at its "
            f"end. The FMC_UIA release keeps its test set hidden: hold out part of train/ as test/ in the same layout "
            f"(docs/challenge-layout.md) and point data.root at that copy.")
