"""The README's "What we found" section, generated from a profile's tables (``build_tables``), never hand-written.

Every sentence names its numbers' provenance; with synthetic data the section says that it is a stand-in and that its
numbers are not the study's. The primary effect is Δs on the headroom scale (``m2dino.analysis.delta_s``), with
intervals from the crossed seed × image model (``m2dino.analysis.inference``); relative changes and Δm in % follow as
secondary numbers. Each verdict carries its
statistic, interval, minimum detectable effect and the runs it read (``m2dino.analysis.verdicts``).
"""
from __future__ import annotations

import pandas as pd

from m2dino.analysis.change import PARADIGM_LABEL
from m2dino.analysis.delta_m import CONVENTION
from m2dino.analysis.study import NUMBERS
from m2dino.analysis.verdicts import VERDICTS


def _fmt(x: float) -> str:
    return f"{x:+.1f}%"


def _ci(lo: float, hi: float, digits: int = 3) -> str:
    return f"[{lo:+.{digits}f}, {hi:+.{digits}f}]" if pd.notna(lo) and pd.notna(hi) else "[no interval]"


def headroom_lines(tables: dict[str, pd.DataFrame]) -> list[str]:
    """The primary findings: TS against the trivial predictor, Δs over tasks, per type and group, negative transfer
    after Holm, and each claim's verdict with its statistic, interval, MDE and runs."""
    out = []
    bt = tables.get("beats_trivial")
    if bt is not None and len(bt):
        main = bt[bt["experiment"] == "main"]
        per_seed = main.groupby("seed")["beats"].agg(["sum", "size"])
        out.append("- TS beats the trivial predictor (paired 95% interval of model − trivial over test images above "
                   "0) on " + "; ".join(f"{int(r['sum'])} of {int(r['size'])} tasks at seed {s}"
                                        for s, r in per_seed.iterrows()) + ".")
    dsa = tables.get("delta_s_all")
    if dsa is not None and len(dsa):
        m = dsa[dsa["experiment"] == "main"]
        out.append("- Δs against TS over tasks (headroom score s = (M − M_trivial)/(M_perfect − M_trivial); "
                   "95% interval over seeds and images, crossed): " + "; ".join(
                       f"{r.comparison.split(' ')[0]} {r.delta_s:+.3f} {_ci(r.ci_low, r.ci_high)} "
                       f"(T={r.n_tasks}, {r.n_seeds} seed(s))" for r in m.itertuples()) + ".")
    dt = tables.get("delta_s_task")
    if dt is not None and len(dt) and dt["p_holm"].notna().any():
        for comp, d in dt[dt["experiment"] == "main"].groupby("comparison", sort=False):
            neg = d[d["negative_transfer"].astype(bool)].sort_values("delta_s")
            pos = d[d["positive_transfer"].astype(bool)]
            worst = ", ".join(f"{r.task} {r.delta_s:+.3f}" for r in neg.head(3).itertuples())
            out.append(f"- {comp}: {len(neg)} of {len(d)} tasks show negative transfer after Holm (p < 0.05)"
                       + (f", worst {worst}" if worst else "") + f"; {len(pos)} a significant gain.")
    ty = tables.get("delta_s_type")
    if ty is not None and len(ty):
        for comp, d in ty[ty["experiment"] == "main"].groupby("comparison", sort=False):
            out.append(f"- {comp} by task type (mean Δs): " + ", ".join(
                f"{r.type} {r.delta_s:+.3f} {_ci(r.ci_low, r.ci_high)}" for r in d.sort_values("delta_s").itertuples())
                + ".")
    gr = tables.get("delta_s_group")
    if gr is not None and len(gr):
        out.append(group_sign_line(gr[gr["experiment"] == "main"]))
    v = tables.get("verdicts")
    if v is not None and len(v):
        counts = v["verdict"].value_counts()
        out.append("- The study's claims, each by its declared test (docs/analysis.md; intervals from the crossed "
                   "seed × image model, Holm within each claim's family): " + ", ".join(
                       f"{counts.get(k, 0)} {k.replace('_', ' ')}" for k in VERDICTS) + ".")
        sens = tables.get("verdict_sensitivity")
        for r in v.itertuples():
            est = f"{r.estimate:+.3f} {_ci(r.ci_low, r.ci_high)}" if pd.notna(r.estimate) else "no estimate"
            mde = f", MDE {r.mde:.3f}" if pd.notna(r.mde) else ""
            out.append(f"  - {r.study_says} [{r.grade}] ({r.claim}): **{r.verdict.replace('_', ' ')}** — "
                       f"{r.statistic}: {est}{mde}; δ = {r.delta:g} ({r.delta_reason}); family: {r.family}; "
                       f"{_sensitivity(sens, r.claim)}runs: {r.runs}. {r.reason}.")
    ac = tables.get("au_consistency")
    if ac is not None and len(ac):
        r = ac.iloc[0]
        out.append(f"- Descriptive, not a verdict: AU is more consistent across groups [A]: SD over {int(r.n_groups)} "
                   f"multi-task groups of the group mean Δs, CG {r.sd_cg:.3f} vs AU {r.sd_au:.3f}, difference "
                   f"{r.estimate:+.3f} {_ci(r.ci_low, r.ci_high)} ({r.interval}).")
    aa = tables.get("aa_check")
    if aa is not None and len(aa):
        from m2dino.analysis.aa_check import summary

        out.append(f"- {summary(aa)}")
    return out


def _sensitivity(sens: pd.DataFrame | None, claim: str) -> str:
    """"at δ/2: x, 2δ: y; " where the verdict changes with δ (nothing when it does not)."""
    if sens is None or sens.empty:
        return ""
    s = sens[sens["claim"] == claim].set_index("delta_multiplier")["verdict"]
    base = s.get(1.0)
    moved = [f"at {'δ/2' if k == 0.5 else '2δ'}: {s[k].replace('_', ' ')}" for k in (0.5, 2.0)
             if k in s.index and s[k] != base]
    return ("; ".join(moved) + "; ") if moved else ""


def group_sign_line(groups: pd.DataFrame) -> str:
    """The study's group deltas [S] against our group mean Δs: a sign counts as matching only when our interval
    excludes 0 on the study's side."""
    cells, match = [], 0
    for n in NUMBERS:
        if n.what != "group change vs TS":
            continue
        g = groups[(groups["group"] == n.group) & (groups["comparison"] == f"{PARADIGM_LABEL[n.paradigm]} vs TS")]
        if g.empty:
            continue
        r = g.iloc[0]
        ok = (n.value > 0 and r.ci_low > 0) or (n.value < 0 and r.ci_high < 0)
        match += bool(ok)
        cells.append(f"{n.group} {PARADIGM_LABEL[n.paradigm]} study {n.value:+.2f} vs ours {r.delta_s:+.3f} "
                     f"{_ci(r.ci_low, r.ci_high)}")
    return (f"- Group-level changes: ours match the study's [S] sign, with the interval excluding 0, in {match} of "
            f"{len(cells)} group × paradigm cells (" + "; ".join(cells) + ").")


def what_we_found(tables: dict[str, pd.DataFrame]) -> str:
    """Markdown for the README section, from the tables of one profile."""
    label = tables["notes"]["note"].iloc[0].removeprefix("data: ")
    out = [f"### What we found — {label}", ""]
    if "synthetic data" in label:
        out += ["These numbers come from the synthetic stand-in benchmark at this profile's scale. They test the "
                "pipeline and the direction of effects, not the study's values.", ""]
    out += headroom_lines(tables)
    if "delta_m" not in tables:
        out.append("No main-experiment comparison yet (TS plus CG or AU runs are needed).")
        return "\n".join(out) + "\n"
    dt = tables.get("delta_s_task")
    ds = dt[dt["experiment"] != "main"] if dt is not None else None
    if ds is not None and len(ds):
        m = ds.assign(p=ds["paradigm"].map(PARADIGM_LABEL)).groupby(["group", "p", "fraction"])["delta_s"].mean()
        parts = []
        for (grp, p), d in m.reset_index().groupby(["group", "p"], sort=False):
            d = d.sort_values("fraction")
            parts.append(f"{grp} {p}: " + " → ".join(f"{r.delta_s:+.3f} at {r.fraction:g}" for r in d.itertuples()))
        out.append("- Data scale within a group (data-scale runs, mean Δs vs TS at the same training fraction, at "
                   "constant optimiser steps): " + "; ".join(parts) + ".")
    out.append("")
    out.append("Secondary: relative changes in %, only over tasks where TS beats the trivial predictor in every seed "
               "(near a TS score of 0 they explode; see docs/analysis.md).")
    if dt is not None and len(dt):
        for comp, d in dt[dt["experiment"] == "main"].groupby("comparison", sort=False):
            kept = d["rel_change_pct"].notna()
            out.append(f"- {comp}: mean relative change {_fmt(d.loc[kept, 'rel_change_pct'].mean())} over "
                       f"{int(kept.sum())} tasks; {int((~kept).sum())} excluded ("
                       + "; ".join(sorted({str(x) for x in d.loc[~kept, 'rel_excluded']})) + ")."
                       if kept.any() else f"- {comp}: no task qualifies for a relative change ("
                       + "; ".join(sorted({str(x) for x in d["rel_excluded"]})) + ").")
    dm = tables["delta_m"]
    out.append("- Δm over all tasks with a defined change (for comparison with the literature): " + "; ".join(
        f"{r.comparison.split(' ')[0]} {_fmt(r.delta_m)} (T={r.n_tasks})" for r in dm.itertuples())
        + f". ({CONVENTION}.)")
    ab = tables.get("ablation_baseline_delta_m")
    if ab is not None and len(ab):
        out.append("- Ablation and baseline, Δm against the main TS runs: " + "; ".join(
            f"{r.comparison} {_fmt(r.delta_m)}" for r in ab.itertuples()) + ".")
    return "\n".join(out) + "\n"
