"""Where a config's data comes from: :func:`ensure_data` gives the dataset folder, generating the synthetic benchmark
first when that is the source (idempotent: a dataset whose manifest matches is left as it is).

It lives with the generator, above ``m2dino.data`` (which reads datasets and never makes them), so that no import runs
from the data layer up to the generator."""
from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

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
