"""The study's figures, drawn from the analysis tables (never from runs directly, so a plot tweak never retrains).

Every figure carries a caption line with the provenance of our numbers (profile, seeds, and "synthetic data" where it
applies, from ``m2dino.analysis.tidy.provenance``); the study's numbers are labelled as the study's with their source
grade. Save with ``m2dino.plotting.save_figure`` (byte-reproducible PNG and PDF); ``FIGURE_NAMES`` says what each
file shows.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy.cluster.hierarchy import dendrogram

from m2dino.analysis.delta_m import CONVENTION
from m2dino.analysis.transfer import classify
from m2dino.registry import TASK_TYPES, all_tasks

FIGURE_NAMES = {
    "delta_s_vs_ts": "per-task Δs of CG and AU against TS (headroom scale), 95% CIs over seeds and images, coloured by Holm",
    "task_change_vs_ts": "per-task change of CG and AU against TS, with 95% CIs over seeds and images",
    "group_change_vs_ts": "mean change against TS per clinical group",
    "type_change_vs_ts": "mean change against TS per task type, and Δm",
    "study_vs_ours_group_change": "the study's group-level changes [S] next to ours",
    "data_scale_change_vs_n_train": "change against TS as a function of training-set size (data-scale experiment)",
    "moe_expert_usage": "expert usage per task and MoE block (AU model)",
    "moe_task_similarity_clustered": "task similarity from routing, hierarchically clustered",
    "ablation_moe_vs_dense": "all-task MoE against all-task dense model, per task, against TS",
    "fmc_baseline_vs_m2dino": "challenge baseline (EfficientNet-B4 + FPN) against M2DINO, all-task, against TS",
}
COLORS = {"CG": "tab:orange", "AU": "tab:blue"}
TYPE_MARKERS = {"segmentation": "o", "classification": "s", "detection": "^", "regression": "D"}


def _caption(fig: plt.Figure, *lines: str) -> None:
    fig.text(0.01, -0.01, "\n".join(lines), ha="left", va="top", fontsize=7, wrap=True)


def _color(comparison: str, i: int) -> str:
    return COLORS.get(comparison.split(" ")[0], f"C{i}") if comparison.split(" ")[-1] == "TS" else f"C{i}"


TRANSFER_COLORS = {"negative": "tab:red", "positive": "tab:green", "neutral": "0.55", "no interval": "0.8"}


def plot_delta_s(table: pd.DataFrame, label: str) -> plt.Figure:
    """Δs per task (one panel per comparison) with 95% intervals over seeds and images, coloured by negative / positive transfer
    after Holm's correction over the comparison's tasks; tasks ordered by clinical group and type. One experiment
    at a time (the main and data-scale experiments are never mixed)."""
    if table["experiment"].nunique() != 1:
        raise ValueError(f"plot_delta_s draws one experiment, got {sorted(table['experiment'].unique())}")
    comps = list(dict.fromkeys(table["comparison"]))
    order = [t.id for t in sorted(all_tasks(), key=lambda t: (t.group, t.type)) if t.id in set(table["task"])]
    fig, axes = plt.subplots(1, len(comps), figsize=(3.6 * len(comps) + 2.4, 0.26 * len(order) + 1.8),
                             sharey=True, squeeze=False)
    y = np.arange(len(order))
    for ax, comp in zip(axes[0], comps):
        d = table[table["comparison"] == comp].set_index("task").reindex(order)
        for kind, col in TRANSFER_COLORS.items():
            m = (d["transfer"] == kind).to_numpy()
            if not m.any():
                continue
            err = np.vstack([d["delta_s"][m] - d["ci_low"][m], d["ci_high"][m] - d["delta_s"][m]])
            ax.errorbar(d["delta_s"][m], y[m], xerr=np.where(np.isfinite(err), err, 0), fmt="o", ms=3.5,
                        color=col, ecolor=col, elinewidth=0.9, label=kind)
        ax.axvline(0, color="k", lw=0.6)
        ax.set_title(comp, fontsize=9)
        ax.set_xlabel("Δs = s_paradigm − s_TS (headroom score)", fontsize=8)
        ax.legend(fontsize=6, loc="lower left")
    groups = [next(t.group for t in all_tasks() if t.id == k) for k in order]
    axes[0][0].set_yticks(y, [f"{k} ({g})" for k, g in zip(order, groups)], fontsize=7)
    axes[0][0].invert_yaxis()
    fig.suptitle("Per-task Δs against TS, coloured by transfer after Holm", fontsize=9)
    _caption(fig, f"Ours: {label}. s = (M − M_trivial)/(M_perfect − M_trivial) (MRE: 1 − MRE/MRE_trivial); dots: "
                  "mean over seeds; whiskers: 95% interval over seeds and test images (crossed; t, Satterthwaite df); "
                  "colour: Holm-adjusted p < 0.05 over the comparison's tasks.")
    fig.tight_layout()
    return fig


def plot_change_bars(changes: pd.DataFrame, title: str, label: str) -> plt.Figure:
    """Horizontal bars of each task's change (one bar per comparison), grouped by clinical group, with CIs; a dot
    marks significant negative transfer."""
    c = classify(changes)
    order = [t.id for t in sorted(all_tasks(), key=lambda t: (t.group, t.type)) if t.id in set(c["task"])]
    comps = list(dict.fromkeys(c["comparison"]))
    h = 1.0 / (len(comps) + 1)
    fig, ax = plt.subplots(figsize=(7, 0.28 * len(order) + 1.6))
    y = np.arange(len(order))
    for i, comp in enumerate(comps):
        d = c[c["comparison"] == comp].set_index("task").reindex(order)
        yy = y + (i - (len(comps) - 1) / 2) * h
        err = np.vstack([d["change"] - d["ci_low"], d["ci_high"] - d["change"]])
        ax.barh(yy, d["change"], height=h, color=_color(comp, i), label=comp,
                xerr=np.where(np.isfinite(err), err, 0), error_kw={"lw": 0.6})
        neg = d["transfer"] == "negative"
        ax.plot(d.loc[neg, "ci_high"].to_numpy() + 0.0, yy[neg.to_numpy()], "k.", ms=3)
    groups = [next(t.group for t in all_tasks() if t.id == k) for k in order]
    ax.set_yticks(y, [f"{k} ({g})" for k, g in zip(order, groups)], fontsize=7)
    ax.invert_yaxis()
    ax.axvline(0, color="k", lw=0.6)
    ax.set_xlabel("relative change of the primary metric vs TS (%, positive = better; MRE inverted)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    _caption(fig, f"Ours: {label}. Bars: mean over seeds; whiskers: 95% CI over seeds and test "
                  "images (crossed model); black dot: negative transfer (Holm-adjusted p < 0.05, change below 0).")
    fig.tight_layout()
    return fig


def plot_summary(table: pd.DataFrame, by: str, label: str, delta_m: pd.DataFrame | None = None) -> plt.Figure:
    """Mean change per ``by`` (group or type) for each comparison, with the task range as whiskers."""
    comps = list(dict.fromkeys(table["comparison"]))
    keys = list(dict.fromkeys(table[by]))
    if by == "type":
        keys = [t for t in TASK_TYPES if t in keys]
    w = 0.8 / len(comps)
    fig, ax = plt.subplots(figsize=(max(5, 0.9 * len(keys) + 2), 3.4))
    x = np.arange(len(keys))
    for i, comp in enumerate(comps):
        d = table[table["comparison"] == comp].set_index(by).reindex(keys)
        xx = x + (i - (len(comps) - 1) / 2) * w
        ax.bar(xx, d["mean_change"], width=w, color=_color(comp, i), label=comp)
        ax.vlines(xx, d["min_change"], d["max_change"], color="k", lw=0.6)
        for xi, n in zip(xx, d["n_negative"]):
            if np.isfinite(n) and n > 0:
                ax.annotate(f"{int(n)}↓", (xi, 0), fontsize=6, ha="center", va="bottom")
    ax.set_xticks(x, keys, rotation=30, ha="right", fontsize=8)
    ax.axhline(0, color="k", lw=0.6)
    ax.set_ylabel("mean change vs TS (%)")
    ax.set_title(f"Change against TS per {by}", fontsize=9)
    ax.legend(fontsize=7)
    cap = [f"Ours: {label}. Bars: mean over tasks of the seed-averaged change; whiskers: task range; "
           "n↓: tasks with negative transfer (CI below 0)."]
    if delta_m is not None:
        cap.append("Δm vs TS: " + ", ".join(f"{r.comparison} {r.delta_m:+.2f}% (T={r.n_tasks})"
                                             for r in delta_m.itertuples()))
        cap.append(CONVENTION)
    _caption(fig, *cap)
    fig.tight_layout()
    return fig


def plot_study_vs_ours(side: pd.DataFrame, label: str) -> plt.Figure:
    """Two panels: the study's group changes (its units not stated [S]) and ours (mean change, %)."""
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
    for ax, col, ttl in ((axes[0], "study", "Study [S] (second-hand summary; units not stated)"),
                         (axes[1], "ours", f"Ours (%), {label}")):
        d = side.pivot_table(index="group", columns="paradigm_label", values=col, sort=False)
        d.plot.bar(ax=ax, color=[COLORS.get(c, "gray") for c in d.columns], rot=0, legend=True)
        ax.axhline(0, color="k", lw=0.6)
        ax.set_title(ttl, fontsize=8, wrap=True)
        ax.set_xlabel("")
        ax.legend(fontsize=7)
    axes[0].set_ylabel("group change vs TS")
    _caption(fig, "Left: numbers reported for the study, grade [S] (plausible, unverified). "
                  f"Right: ours, {label}; not comparable in scale.")
    fig.tight_layout()
    return fig


def plot_data_scale(changes: pd.DataFrame, label: str) -> plt.Figure:
    """Change vs training-set size per group (panels), paradigm (colour) and task type (marker), with the mean
    over tasks per fraction as a line."""
    groups = list(dict.fromkeys(changes["group"]))
    fig, axes = plt.subplots(1, len(groups), figsize=(4.2 * len(groups), 3.4), squeeze=False, sharey=True)
    for ax, g in zip(axes[0], groups):
        d = changes[changes["group"] == g]
        for i, comp in enumerate(dict.fromkeys(d["comparison"].str.split(" ").str[0])):
            dc = d[d["comparison"].str.split(" ").str[0] == comp]
            col = COLORS.get(comp, f"C{i}")
            for typ, dt in dc.groupby("type"):
                ax.scatter(dt["n_train"], dt["change"], color=col, marker=TYPE_MARKERS.get(typ, "o"), s=14,
                           alpha=0.6)
            m = dc.groupby("fraction").agg(n=("n_train", "mean"), c=("change", "mean")).sort_values("n")
            ax.plot(m["n"], m["c"], color=col, lw=1.5, label=f"{comp} (mean over tasks)")
        ax.set_xscale("log")
        ax.axhline(0, color="k", lw=0.6)
        ax.set_title(g, fontsize=9)
        ax.set_xlabel("training images per task (log)")
    axes[0][0].set_ylabel("change vs TS at the same fraction (%)")
    handles = [plt.Line2D([], [], color="gray", marker=m, ls="", label=t) for t, m in TYPE_MARKERS.items()]
    axes[0][-1].legend(handles=axes[0][-1].get_legend_handles_labels()[0] + handles, fontsize=6)
    _caption(fig, f"Ours: {label}. Data scale varied within a group (fractions of each task's training split); "
                  "each point a task at one fraction.")
    fig.tight_layout()
    return fig


def plot_expert_usage(usage: pd.DataFrame, label: str) -> plt.Figure:
    """Heatmap of expert shares: tasks x (MoE block, expert)."""
    m = usage.pivot_table(index="task", columns=["block", "expert"], values="share")
    order = [t.id for t in all_tasks() if t.id in m.index] + [t for t in m.index if t not in {x.id for x in all_tasks()}]
    m = m.reindex(order)
    fig, ax = plt.subplots(figsize=(0.25 * m.shape[1] + 3, 0.25 * m.shape[0] + 1.5))
    im = ax.imshow(m.to_numpy(float), aspect="auto", cmap="viridis", vmin=0)
    ax.set_yticks(range(len(m.index)), m.index, fontsize=6)
    ax.set_xticks(range(m.shape[1]), [f"b{b}e{e}" for b, e in m.columns], rotation=90, fontsize=5)
    fig.colorbar(im, ax=ax, label="share of the task's token-to-expert assignments")
    ax.set_title("Expert usage per task and MoE block (all-task model)", fontsize=9)
    _caption(fig, f"Ours: {label}. Tokens of the test images routed to each expert.")
    fig.tight_layout()
    return fig


def plot_similarity(sim: pd.DataFrame, order: list[str], z: np.ndarray, label: str) -> plt.Figure:
    """Routing similarity, rows and columns in dendrogram order, with the dendrogram on top."""
    fig, (ax_d, ax) = plt.subplots(2, 1, figsize=(7, 8), gridspec_kw={"height_ratios": [1, 5]})
    dendrogram(z, ax=ax_d, no_labels=True, color_threshold=0, above_threshold_color="k")
    ax_d.axis("off")
    m = sim.loc[order, order]
    im = ax.imshow(m.to_numpy(float), cmap="magma", vmin=0, vmax=1)
    ax.set_xticks(range(len(order)), order, rotation=90, fontsize=6)
    ax.set_yticks(range(len(order)), order, fontsize=6)
    fig.colorbar(im, ax=ax, label="1 − Jensen-Shannon distance of expert shares (mean over blocks)")
    ax_d.set_title("Task similarity from MoE routing (average linkage)", fontsize=9)
    _caption(fig, f"Ours: {label}.")
    fig.tight_layout()
    return fig


def plot_guideline(guideline: pd.DataFrame, verdicts: pd.DataFrame, label: str) -> plt.Figure:
    """The derived guideline as a scale x type grid (colour: recommended paradigm, text: mean changes and evidence),
    next to the study's claims with our verdicts."""
    colors = {"single (TS)": "#dddddd", "clinical-group (CG)": "#f5b971", "all-task (AU)": "#8fb8de"}
    scales = ["data-scarce", "data-rich"]
    types = [t for t in TASK_TYPES if t in set(guideline["type"])]
    fig, (ax, axt) = plt.subplots(1, 2, figsize=(12, 3.6), gridspec_kw={"width_ratios": [1.1, 1]})
    for i, s in enumerate(scales):
        for j, t in enumerate(types):
            r = guideline[(guideline["scale"] == s) & (guideline["type"] == t)]
            if r.empty:
                ax.add_patch(plt.Rectangle((j, i), 1, 1, color="white", ec="k", lw=0.3))
                ax.text(j + 0.5, i + 0.5, "no tasks", ha="center", va="center", fontsize=6)
                continue
            r = r.iloc[0]
            ax.add_patch(plt.Rectangle((j, i), 1, 1, color=colors[r["recommended"]], ec="k", lw=0.3))
            cg, au = r.get("clinical_mean", np.nan), r.get("all_mean", np.nan)
            ax.text(j + 0.5, i + 0.5, f"{r['recommended'].split(' ')[0]} ({r['evidence']})\n"
                    f"CG {cg:+.1f}%  AU {au:+.1f}%\n{int(r['n_tasks'])} task(s)", ha="center", va="center",
                    fontsize=6)
    ax.set_xlim(0, len(types))
    ax.set_ylim(0, len(scales))
    ax.set_xticks(np.arange(len(types)) + 0.5, types, fontsize=7)
    ax.set_yticks(np.arange(len(scales)) + 0.5, scales, fontsize=7)
    ax.set_title("Derived guideline: paradigm with the best mean change vs TS", fontsize=9)
    axt.axis("off")
    lines = [f"[{r.grade}] {r.study_says} ({r.claim})\n    → ours: {r.verdict.upper()}" for r in verdicts.itertuples()]
    axt.text(0, 1, "\n".join(lines), va="top", fontsize=6.5, wrap=True)
    axt.set_title("The study's findings and guideline vs our measurements", fontsize=9)
    _caption(fig, f"Ours: {label}. Evidence 'clear': the best paradigm's 95% CI (bootstrap over tasks) excludes 0; "
                  "grades: [A] abstract, [S] second-hand summary (unverified).")
    fig.tight_layout()
    return fig
