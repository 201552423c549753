"""Absolute paths of the companion, so notebooks and the CLI work from any working directory."""
from __future__ import annotations

from pathlib import Path

from m2dino.errors import ConfigError

PACKAGE = Path(__file__).resolve().parent
REPO = PACKAGE.parent
CONF_DIR = PACKAGE / "conf"  # the Hydra config tree
DATA = REPO / "data"
RESULTS = REPO / "results"
FIGURES = REPO / "figures"
NOTEBOOKS = REPO / "notebooks"


def results_dir(cfg=None) -> Path:
    """Where runs and tables go: ``cfg.results_dir`` if set, else ``<repo>/results/<profile>``."""
    base = Path(cfg.results_dir) if cfg is not None and cfg.results_dir else RESULTS
    return base / cfg.profile.name if cfg is not None else base


def figures_dir(cfg) -> Path:
    """Where figures go: ``<figures_dir or repo/figures>/<profile>``, created on demand."""
    base = Path(cfg.figures_dir) if cfg.figures_dir else FIGURES
    out = base / cfg.profile.name
    out.mkdir(parents=True, exist_ok=True)
    return out


def data_root(cfg) -> Path:
    """The dataset folder: ``cfg.data.root`` if set, else ``<repo>/data/synthetic/<profile>`` for synthetic data.

    Real data (``data=fmc``, the paper profile) is never generated, so its ``data.root`` must be given: raises
    :class:`m2dino.errors.ConfigError` naming the key otherwise.
    """
    if cfg.data.get("root"):
        return Path(cfg.data.root).expanduser().resolve()
    if cfg.data.source != "synthetic":
        raise ConfigError(
            f"data.root is not set: profile {cfg.profile.name!r} reads real data (data.source={cfg.data.source}), "
            f"which m2dino never generates or downloads. Point data.root at your copy of the FMC_UIA release, the "
            f"folder holding train/, val/ and a test/ you hold out (e.g. data.root=/data/FMC_UIA), or at your own data "
            f"in that layout "
            f"(docs/challenge-layout.md); check it first with python -m m2dino validate data.root=...")
    return DATA / "synthetic" / cfg.profile.name
