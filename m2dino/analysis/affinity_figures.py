"""Figures of notebook 10 (task affinity), drawn from its tables; every one carries the provenance caption."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy.cluster.hierarchy import dendrogram

from m2dino.analysis.affinity import cluster_order, symmetric

FIGURE_NAMES = {
    "task_affinity_vs_routing": "task affinity (all-task run), clustered, beside the routing similarity in that order",
    "affinity_predicted_vs_measured": "transfer predicted from affinity against measured, per task, CG and AU",
    "affinity_groups_vs_clinical": "CG on groups found from affinity against CG on the clinical groups",
}
NAMES = {"clinical": "CG", "all": "AU"}


def _caption(fig: plt.Figure, *lines: str) -> None:
    fig.text(0.01, -0.01, "\n".join(lines), ha="left", va="top", fontsize=7, wrap=True)


def plot_affinity_and_routing(matrix: pd.DataFrame, routing: pd.DataFrame | None, label: str,
                              estimator: str) -> plt.Figure:
    """Symmetrised affinity in its dendrogram order, and the routing similarity (notebook 08) in the same order."""
    order, z = cluster_order(matrix)
    s = symmetric(matrix).loc[order, order].to_numpy(float, copy=True)  # writable: the diagonal is blanked below
    fig, axes = plt.subplots(2, 2, figsize=(13, 7.5), gridspec_kw={"height_ratios": [1, 5]})
    dendrogram(z, ax=axes[0, 0], no_labels=True, color_threshold=0, above_threshold_color="k")
    axes[0, 0].axis("off")
    axes[0, 1].axis("off")
    s[np.eye(len(s), dtype=bool)] = np.nan  # a task's affinity with itself would dominate the colour scale
    lim = float(np.nanmax(np.abs(s))) if len(s) > 1 and np.isfinite(s).any() else 1.0
    cmap = plt.get_cmap("RdBu").copy()
    cmap.set_bad("0.85")
    im = axes[1, 0].imshow(s, cmap=cmap, vmin=-lim, vmax=lim)
    fig.colorbar(im, ax=axes[1, 0], label=f"{estimator} affinity, (Z_ij + Z_ji)/2, mean over steps")
    axes[0, 0].set_title(f"Task affinity ({estimator}) in the all-task run, average linkage", fontsize=9)
    if routing is not None:
        r = routing.reindex(index=order, columns=order).to_numpy(float)
        im2 = axes[1, 1].imshow(r, cmap="magma", vmin=0, vmax=1)
        fig.colorbar(im2, ax=axes[1, 1], label="routing similarity (1 − JS distance)")
        axes[0, 1].set_title("Routing similarity (notebook 08), same order", fontsize=9)
    else:
        axes[1, 1].axis("off")
        axes[1, 1].text(0.5, 0.5, "no routing similarity (dense model?)", ha="center")
    for ax in axes[1]:
        ax.set_xticks(range(len(order)), order, rotation=90, fontsize=5)
        ax.set_yticks(range(len(order)), order, fontsize=5)
    _caption(fig, f"Ours: {label}. Affinity on the shared backbone parameters (m2dino.train.affinity); diagonal "
                  f"(a task with itself) in grey.")
    fig.tight_layout()
    return fig


def plot_predicted_vs_measured(per_task: pd.DataFrame, summary: pd.DataFrame, label: str,
                               estimator: str) -> plt.Figure:
    """One panel per paradigm: predicted transfer (x) against measured (y) with its interval; negative transfer red."""
    d = per_task[per_task["estimator"] == estimator]
    paradigms = [p for p in ("clinical", "all") if p in set(d["paradigm"])]
    fig, axes = plt.subplots(1, max(len(paradigms), 1), figsize=(6 * max(len(paradigms), 1), 4.5), squeeze=False)
    for ax, p in zip(axes[0], paradigms):
        q = d[d["paradigm"] == p]
        neg = q["negative_transfer"].to_numpy(bool)
        y = q["measured"].to_numpy(float)
        err = np.vstack([y - q["ci_low"].to_numpy(float), q["ci_high"].to_numpy(float) - y])
        ax.errorbar(q["predicted"], y, yerr=np.where(np.isfinite(err), np.abs(err), 0), fmt="none", ecolor="0.7",
                    lw=0.8)
        ax.scatter(q["predicted"][~neg], y[~neg], s=18, c="tab:blue", label="no negative transfer")
        ax.scatter(q["predicted"][neg], y[neg], s=24, c="tab:red", label="negative transfer")
        for r in q.itertuples():
            ax.annotate(r.task, (r.predicted, r.measured), fontsize=5, alpha=0.7)
        ax.axhline(0, color="k", lw=0.5)
        ax.axvline(0, color="k", lw=0.5, ls=":")
        s = summary[(summary["estimator"] == estimator) & (summary["paradigm"] == p)]
        rho = f"ρ = {s['spearman'].iloc[0]:+.2f} [{s['ci_low'].iloc[0]:+.2f}, {s['ci_high'].iloc[0]:+.2f}]" if len(s) else ""
        ax.set_title(f"{NAMES.get(p, p)}: {rho}", fontsize=9)
        ax.set_xlabel(f"predicted: mean {estimator} affinity onto the task from its unit")
        ax.set_ylabel(f"measured: {q['measure'].iloc[0] if len(q) else ''} vs TS")
        ax.legend(fontsize=7)
    _caption(fig, f"Ours: {label}. Left of the dotted line: flagged in advance (predicted < 0). Spearman ρ with a "
                  f"95% bootstrap interval over tasks.")
    fig.tight_layout()
    return fig


def plot_groupings(comparison: pd.DataFrame, label: str) -> plt.Figure:
    """Δm (with its interval over seeds and images) and the number of negative-transfer tasks of CG under each
    grouping."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.5))
    x = np.arange(len(comparison))
    for ax, col, lo, hi, title in ((a, "delta_m", "delta_m_ci_low", "delta_m_ci_high", "Δm of CG vs TS (%)"),
                                   (b, "n_negative", None, None, "tasks with negative transfer (Holm p < 0.05)")):
        v = comparison[col].to_numpy(float)
        ax.bar(x, v, color=[f"C{i}" for i in x])
        if lo is not None:
            err = np.vstack([v - comparison[lo].to_numpy(float), comparison[hi].to_numpy(float) - v])
            ax.errorbar(x, v, yerr=np.abs(err), fmt="none", ecolor="k", capsize=3)
        ax.set_xticks(x, comparison["grouping"])
        ax.set_title(title, fontsize=9)
        ax.axhline(0, color="k", lw=0.5)
    _caption(fig, f"Ours: {label}. CG trained on each grouping under the same protocol and seeds; 95% intervals "
                  f"of Δm over seeds and test images (the tasks are fixed).")
    fig.tight_layout()
    return fig
