"""The A/A check: TS against TS. The main experiment's TS seeds are split in two arms, arm B is put through the
verdict machinery as if it were a paradigm against arm A, and every task and claim it flags is a false alarm: a
calibrated machine flags about α (``aa_check.csv``).

Arms: the TS seeds sorted, the first half against the second (an odd seed out is left out), paired in that order
(arm A's k-th seed with arm B's k-th), so each pair is one "seed" of the comparison and the images are shared as in
every comparison. Needs at least 4 TS seeds (``conf/analysis.yaml: aa_extra_seeds`` adds TS-only seeds, for the tasks
of ``aa_tasks``; the check covers the tasks that have them). Claims
read with arm B in the place of CG: those on the main experiment that compare one paradigm with TS
(``cg_scarce_negative``, ``cg_rich_gain``, ``segmentation_drops_most_cg``); a contrast of two paradigms or the
data-scale runs have no A/A counterpart here.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from m2dino.analysis.change import REF_PARADIGM
from m2dino.analysis.delta_s import Reader, task_table, two_stage
from m2dino.analysis.inference import ALPHA
from m2dino.analysis.tidy import TRIVIAL, primary_table, read_per_image
from m2dino.analysis.verdicts import PROTOCOL, judgements

MIN_SEEDS = 4
ARM = "clinical"  # the paradigm slot arm B takes in the verdict machinery
AA_PROTOCOL = tuple(p for p in PROTOCOL if p.experiment == "main" and p.paradigm == ARM)
COLUMNS = ["level", "name", "arm_a_seeds", "arm_b_seeds", "estimate", "ci_low", "ci_high", "p", "p_holm", "verdict",
           "flagged", "flagged_holm"]


def arms(seeds: Sequence[int]) -> tuple[list[int], list[int]]:
    """The two arms of sorted TS seeds: first half, second half (equal sizes)."""
    s = sorted(int(x) for x in seeds)
    half = len(s) // 2
    return s[:half], s[half:2 * half]


def aa_tidy(tidy: pd.DataFrame) -> tuple[pd.DataFrame, list[int], list[int]] | None:
    """The main TS runs rewritten as arm A (paradigm TS) and arm B (paradigm ``clinical``), seeds renumbered by pair;
    None with fewer than :data:`MIN_SEEDS` TS seeds."""
    prim = primary_table(tidy)
    main = prim[prim["experiment"] == "main"]
    ts = main[main["paradigm"] == REF_PARADIGM]
    per_task = ts.groupby("task")["seed"].agg(lambda s: tuple(sorted(set(int(x) for x in s))))
    if per_task.empty or per_task.map(len).max() < MIN_SEEDS:
        return None
    seeds = list(per_task[per_task.map(len) == per_task.map(len).max()].iloc[0])  # the extra seeds may cover some tasks
    ts = ts[ts["task"].isin(per_task.index[per_task.map(lambda s: set(seeds) <= set(s))])]
    a, b = arms(seeds)
    pair_a, pair_b = {s: k for k, s in enumerate(a)}, {s: k for k, s in enumerate(b)}
    arm_a = ts[ts["seed"].isin(a)].assign(seed=lambda d: d["seed"].map(pair_a))
    arm_b = ts[ts["seed"].isin(b)].assign(seed=lambda d: d["seed"].map(pair_b), paradigm=ARM)
    triv = main[(main["paradigm"] == TRIVIAL) & main["seed"].isin(a) & main["task"].isin(set(ts["task"]))].assign(
        seed=lambda d: d["seed"].map(pair_a))
    return pd.concat([arm_a, arm_b, triv], ignore_index=True), a, b


def aa_check(tidy: pd.DataFrame, rich: Sequence[str], scarce: Sequence[str], deltas: Mapping[str, tuple[float, str]],
             beats: pd.DataFrame | None = None, reader: Reader = read_per_image) -> pd.DataFrame:
    """``aa_check.csv``: per task (Δs of arm B against arm A, p, Holm p; flagged: p < α, flagged_holm: Holm p < α)
    and per claim (verdict at its δ; flagged: agree, agree_below_delta or disagree); empty with fewer than 4 TS
    seeds. ``beats`` (TS against trivial, per task and seed) restricts the segmentation claim as in the verdicts."""
    got = aa_tidy(tidy)
    if got is None:
        return pd.DataFrame(columns=COLUMNS)
    sub, a, b = got
    ev = two_stage(sub, "main", paradigms=(ARM,), reader=reader)
    sa, sb = " ".join(map(str, a)), " ".join(map(str, b))
    tab = task_table(ev)
    rows = [{"level": "task", "name": r.task, "arm_a_seeds": sa, "arm_b_seeds": sb, "estimate": r.delta_s,
             "ci_low": r.ci_low, "ci_high": r.ci_high, "p": r.p, "p_holm": r.p_holm, "verdict": "",
             "flagged": bool(r.p < ALPHA), "flagged_holm": bool(r.p_holm < ALPHA)} for r in tab.itertuples()]
    if beats is not None and len(beats):  # arm A's seeds, renumbered like the evidence
        pair_a = {s: k for k, s in enumerate(a)}
        beats = beats[beats["experiment"].eq("main") & beats["seed"].isin(a)].assign(
            seed=lambda d: d["seed"].map(pair_a))
    for j, _ in judgements(ev, None, rich, scarce, beats, protocol=AA_PROTOCOL):
        v = j.decide(deltas[j.protocol.key][0])
        i = j.shown() if j.tests.estimates else 0
        e = j.tests.estimates[i] if j.tests.estimates else None
        rows.append({"level": "claim", "name": j.protocol.key, "arm_a_seeds": sa, "arm_b_seeds": sb,
                     "estimate": e.estimate if e is not None else np.nan,
                     "ci_low": float(j.lo[i]) if e is not None else np.nan,
                     "ci_high": float(j.hi[i]) if e is not None else np.nan,
                     "p": float(j.p[i]) if e is not None else np.nan,
                     "p_holm": float(j.p_holm[i]) if e is not None else np.nan, "verdict": v,
                     "flagged": v in ("agree", "agree_below_delta", "disagree"),
                     "flagged_holm": v in ("agree", "agree_below_delta", "disagree")})
    return pd.DataFrame(rows, columns=COLUMNS)


def summary(aa: pd.DataFrame) -> str:
    """One sentence: how many tasks and claims the A/A comparison flags, against what a calibrated machine flags."""
    if aa.empty:
        return (f"A/A check: not run (needs at least {MIN_SEEDS} TS seeds; conf/analysis.yaml: aa_extra_seeds adds "
                "TS-only seeds).")
    t, c = aa[aa["level"] == "task"], aa[aa["level"] == "claim"]
    return (f"A/A check (TS seeds {t['arm_b_seeds'].iloc[0]} against {t['arm_a_seeds'].iloc[0]}, no true effect): "
            f"{int(t['flagged'].sum())} of {len(t)} tasks at p < {ALPHA:g} (expected about {ALPHA * len(t):.1f}), "
            f"{int(t['flagged_holm'].sum())} after Holm (a family-wise error rate of {ALPHA:g}: expected 0, at most "
            f"one in {1 / ALPHA:.0f} checks); {int(c['flagged'].sum())} of {len(c)} claims flagged "
            f"({', '.join(f'{r.name}: {r.verdict}' for r in c.itertuples())}).")
