"""Print where a figure came from: ``python -m m2dino provenance figures/demo/<name>.png`` (or ``.pdf``).

Reads the ``m2dino:provenance`` record every figure saved by ``m2dino.plotting.save_figure`` carries: notebook and
command, profile, seeds and data seed, the runs read (with their hashes) and the git commit (with a dirty flag).
``--json`` prints the raw record.
"""
from __future__ import annotations

import json
import sys

from m2dino import provenance

HELP = "print a figure's provenance (notebook, command, profile, seeds, runs read, git commit)"


def main(argv: list[str]) -> int:
    as_json = "--json" in argv
    files = [a for a in argv if a != "--json"]
    if not files:
        print("usage: python -m m2dino provenance FIGURE.png|FIGURE.pdf [...] [--json]", file=sys.stderr)
        return 2
    status = 0
    for i, f in enumerate(files):
        try:
            rec = provenance.read(f)
        except (FileNotFoundError, ValueError) as e:
            print(f"provenance: {e}", file=sys.stderr)
            status = 1
            continue
        if len(files) > 1:
            print(("\n" if i else "") + f"== {f}")
        print(json.dumps(rec, indent=1, sort_keys=True) if as_json else provenance.describe(rec))
    return status
