"""Choose a training setting on val: ``python -m m2dino budget profile=demo seed=0 data.seed=0 [key=train.epochs]
[values=[3,4,6]] [paradigms=[single,clinical,all]] [tol=0.02] [results_dir=...]``.

Trains the paradigms at each value of ``key`` for one seed (choices are made on data seed 0, never on the final
demo's data), compares the mean val headroom score s and the val Δs of CG and AU against TS, prints the table and the
value the rule of ``m2dino.study.budget`` picks against the config's current value, and writes
``budget_<key>.csv`` to the results folder. Put ``results_dir=`` elsewhere to keep these runs out of the study's.
Nothing here reads a test split.
"""
from __future__ import annotations

import sys

from omegaconf import OmegaConf

from m2dino import atomic
from m2dino.commands import list_option
from m2dino.commands.report import pop_option
from m2dino.config import load
from m2dino.paths import results_dir

HELP = "choose train.epochs (or another key) on val: the paradigms at each value for one seed (values=[3,4,6])"


def main(argv: list[str]) -> int:
    from m2dino.study.budget import PARADIGMS, choose, train_values, val_table

    key, argv = pop_option(argv, "key", "train.epochs")
    raw, argv = pop_option(argv, "values", "[3,4,6]")
    paradigms, argv = pop_option(argv, "paradigms", "[" + ",".join(PARADIGMS) + "]")
    tol, argv = pop_option(argv, "tol", "0.02")
    try:
        values = sorted({float(x) for x in list_option(raw)})
    except ValueError:
        print(f"budget: values={raw!r} is not a list of numbers, e.g. values=[3,4,6]", file=sys.stderr)
        return 2
    cfg = load(argv)
    current = OmegaConf.select(cfg, key)
    if current is None:
        print(f"budget: key={key!r} is not in the config", file=sys.stderr)
        return 2
    values = sorted(set(values) | {float(current)})
    extra = [a for a in argv if not a.startswith(("profile=", "seed="))]
    runs = train_values(str(cfg.profile.name), key, values, int(cfg.seed), list_option(paradigms), extra=extra,
                        progress=True)
    table = val_table(runs)
    out = results_dir(cfg) / f"budget_{key}.csv"
    atomic.to_csv(table, out, index=False)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    pick = choose(table, float(current), float(tol))
    print(f"\n{key}: current {current}, chosen {pick:g} (tol {tol}; val only, seed {cfg.seed}, data seed "
          f"{cfg.data.seed}); table: {out}")
    return 0
