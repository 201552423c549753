"""Print the 27-task registry as a table, with counts per type and per group, checked against the study's totals.

Task ids, types and classes are the challenge's [C]; organs, groups and per-task counts are ours, summing to the
study's totals per type and per group [S].
"""
from __future__ import annotations

from m2dino import registry

HELP = "print the 27-task registry (ids, types, classes, groups, paper-scale counts)"


def main(argv: list[str]) -> int:
    if argv:
        print(f"tasks takes no arguments, got {argv}")
        return 2
    df = registry.as_frame()
    print(df.to_string(index=False))
    print()
    print("training images at paper scale per type (per-task split ours, totals the study's [S]):")
    print(df.groupby("type", sort=False)["n_train"].agg(["count", "sum"]).to_string())
    problems = registry.check_totals()
    for p in problems:
        print(f"MISMATCH: {p}")
    return 1 if problems else 0
