"""Absolute paths of the companion, so notebooks and the CLI work from any working directory."""
from __future__ import annotations

import re
from pathlib import Path

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
    """The dataset folder: ``cfg.data.root`` if set, else ``<repo>/data/synthetic/<profile>``."""
    if cfg.data.get("root"):
        return Path(cfg.data.root).expanduser().resolve()
    return DATA / "synthetic" / cfg.profile.name


PARADIGMS = ("single", "clinical", "all")  # TS, CG, AU: the paradigm level of a run folder
MAIN = "main"  # the experiment that has no folder level of its own
_SEED = re.compile(r"^seed(\d+)$")


def experiment_dir(profile_root: Path, experiment: str = MAIN) -> Path:
    """``<profile_root>/[<experiment>/]``: the main study has no folder level of its own."""
    return Path(profile_root) if not experiment or experiment == MAIN else Path(profile_root) / experiment


def run_path(profile_root: Path, paradigm: str, unit: str, seed: int, experiment: str = MAIN) -> Path:
    """The run folder ``<profile_root>/[<experiment>/]<paradigm>/<unit>/seed<k>`` (docs/run-folder.md).

    The one place that spells the layout out; :func:`parse_run_path` reads it back.
    """
    return experiment_dir(profile_root, experiment) / paradigm / unit / f"seed{int(seed)}"


def parse_run_path(run_dir: Path, profile_root: Path) -> dict:
    """Experiment, paradigm, unit and seed of a run folder below ``profile_root`` (the inverse of :func:`run_path`)."""
    parts = Path(run_dir).relative_to(profile_root).parts
    m = _SEED.match(parts[-1]) if parts else None
    if len(parts) < 3 or m is None or parts[-3] not in PARADIGMS:
        raise ValueError(f"{run_dir}: not a run folder <profile>/[<experiment>/]<paradigm>/<unit>/seed<k>/")
    return {"experiment": "/".join(parts[:-3]) or MAIN, "paradigm": parts[-3], "unit": parts[-2],
            "seed": int(m.group(1))}
