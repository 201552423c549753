"""Byte-reproducible figure saving: every figure goes to ``figures/<profile>/<name>.{png,pdf}`` with no dates, and
carries its provenance (``m2dino.provenance``: notebook, command, profile, seeds, runs read, git commit)."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from m2dino import provenance

SYNTHETIC_NOTE = "synthetic data (a stand-in for the FMC_UIA release)"


def save_figure(fig: plt.Figure, out_dir: Path, name: str, formats: tuple[str, ...] = ("png", "pdf")) -> list[Path]:
    """Save ``fig`` as ``out_dir/name.<fmt>`` without timestamps or software tags, so reruns give identical bytes.

    PNG and PDF files carry the provenance record under ``m2dino:provenance`` (read it back with
    ``python -m m2dino provenance FILE``); it holds no time, so the same inputs still give the same bytes.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    prov = provenance.encode(provenance.record())
    meta = {"png": {"Software": None, provenance.KEY: prov},
            "pdf": {"CreationDate": None, "Producer": None, "Creator": None, "Subject": f"{provenance.KEY} {prov}"},
            "svg": {"Date": None}}
    paths = []
    for fmt in formats:
        path = out_dir / f"{name}.{fmt}"
        fig.savefig(path, dpi=150, bbox_inches="tight", metadata=meta.get(fmt))
        paths.append(path)
    return paths


def data_label(cfg) -> str:
    """What the numbers in a figure come from: profile, seeds and, for generated data, the synthetic-data note."""
    src = SYNTHETIC_NOTE if cfg.data.source == "synthetic" else f"data: {cfg.data.root}"
    return f"ours, profile {cfg.profile.name}, seeds {list(cfg.plan.seeds)}; {src}"
