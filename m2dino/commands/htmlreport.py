"""Export a reproduction to HTML: ``python -m m2dino htmlreport profile=demo`` (run by ``make reproduce``).

Every executed notebook in ``results/<profile>/notebooks/`` becomes an HTML page (nbconvert, figures inline), and
``results/<profile>/report/index.html`` links them, shows each figure of ``figures/<profile>/`` with its caption and
provenance, and includes the generated "What we found". ``results_dir=`` and ``figures_dir=`` move the roots.
"""
from __future__ import annotations

import sys
from pathlib import Path

from m2dino.config import load
from m2dino.html_report import build

HELP = "export the executed notebooks, figures and 'What we found' of a profile to results/<profile>/report/"


def main(argv: list[str]) -> int:
    cfg = load(argv)
    try:
        index = build(cfg.profile.name, Path(cfg.results_dir) if cfg.results_dir else None,
                      Path(cfg.figures_dir) if cfg.figures_dir else None)
    except (FileNotFoundError, ValueError) as e:
        print(f"htmlreport: {e}", file=sys.stderr)
        return 1
    print(f"report: {index}")
    return 0
