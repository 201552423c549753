"""The README's "What we found" section, generated from a profile's tables (``build_tables``), never hand-written.

Every sentence names its numbers' provenance; with synthetic data the section says that it is a stand-in and that its
numbers are not the study's.
"""
from __future__ import annotations

import pandas as pd

from m2dino.analysis.change import PARADIGM_LABEL
from m2dino.analysis.delta_m import CONVENTION


def _fmt(x: float) -> str:
    return f"{x:+.1f}%"


def what_we_found(tables: dict[str, pd.DataFrame]) -> str:
    """Markdown for the README section, from the tables of one profile."""
    label = tables["notes"]["note"].iloc[0].removeprefix("data: ")
    out = [f"### What we found — {label}", ""]
    if "synthetic data" in label:
        out += ["These numbers come from the synthetic stand-in benchmark at this profile's scale. They test the "
                "pipeline and the direction of effects, not the study's values.", ""]
    if "delta_m" not in tables:
        out.append("No main-experiment comparison yet (TS plus CG or AU runs are needed).")
        return "\n".join(out) + "\n"
    dm = tables["delta_m"]
    out.append("- Δm against task-specific models: " + "; ".join(
        f"{r.comparison.split(' ')[0]} {_fmt(r.delta_m)} (T={r.n_tasks} tasks, {r.n_seeds} seed(s)"
        + (f", seed SD {r.seed_sd:.1f}" if r.n_seeds > 1 else "") + ")" for r in dm.itertuples()) + f". ({CONVENTION}.)")
    ch = tables["task_change"]
    from m2dino.analysis.transfer import classify
    c = classify(ch)
    for comp, d in c.groupby("comparison", sort=False):
        if (d["transfer"] == "no interval").all():
            out.append(f"- {comp}: no bootstrap intervals were computed, so no task is called negative transfer.")
            continue
        neg = d[d["transfer"] == "negative"].sort_values("change")
        pos = d[d["transfer"] == "positive"]
        worst = ", ".join(f"{r.task} {_fmt(r.change)}" for r in neg.head(3).itertuples())
        undefined = int(d["change"].isna().sum())
        note = f" ({undefined} more undefined: TS metric 0)" if undefined else ""
        out.append(f"- {comp}: {len(neg)} of {int(d['change'].notna().sum())} tasks{note} show negative transfer "
                   "(95% CI below 0)"
                   + (f", worst {worst}" if worst else "") + f"; {len(pos)} show a significant gain.")
    ty = tables["type_change"]
    for comp, d in ty.groupby("comparison", sort=False):
        d = d.sort_values("mean_change")
        out.append(f"- {comp} by task type (mean change): " + ", ".join(
            f"{r.type} {_fmt(r.mean_change)}" for r in d.itertuples()) + f"; most sensitive: {d['type'].iloc[0]}.")
    sv = tables.get("study_vs_ours")
    if sv is not None:
        g = sv[sv["what"] == "group change vs TS"].dropna(subset=["ours"])
        if len(g):
            same = int((g["study"].apply(lambda v: v > 0) == g["ours"].apply(lambda v: v > 0)).sum())
            out.append(f"- Group-level changes: the sign of ours matches the study's [S] in {same} of {len(g)} "
                       "reported group × paradigm cells (" + ", ".join(
                           f"{r.group} {r.paradigm_label} study {r.study:+.2f} vs ours {_fmt(r.ours)}"
                           for r in g.itertuples()) + ").")
    ds = tables.get("data_scale_change")
    if ds is not None and len(ds):
        m = ds.assign(p=ds["paradigm"].map(PARADIGM_LABEL)).groupby(["group", "p", "fraction"])["change"].mean()
        parts = []
        for (grp, p), d in m.reset_index().groupby(["group", "p"], sort=False):
            d = d.sort_values("fraction")
            parts.append(f"{grp} {p}: " + " → ".join(
                f"{_fmt(r.change)} at {r.fraction:g}" for r in d.itertuples()))
        out.append("- Data scale within a group (mean change vs TS at each training fraction): " + "; ".join(parts)
                   + ".")
    ab = tables.get("ablation_baseline_delta_m")
    if ab is not None and len(ab):
        out.append("- Ablation and baseline, Δm against the main TS runs: " + "; ".join(
            f"{r.comparison} {_fmt(r.delta_m)}" for r in ab.itertuples()) + ".")
    gv = tables.get("guideline_vs_study")
    if gv is not None:
        counts = gv["verdict"].value_counts()
        out.append("- The study's findings and guideline against ours: " + ", ".join(
            f"{counts.get(k, 0)} {k}" for k in ("agree", "disagree", "not supported")) + ".")
        for r in gv.itertuples():
            out.append(f"  - {r.study_says} {r.source}: **{r.verdict}** — {r.reason}.")
    return "\n".join(out) + "\n"
