"""The study at a glance: the 27 tasks by clinical group and type, sized by paper-scale training data."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from m2dino.registry import TASK_TYPES

TYPE_COLOURS = {"segmentation": "#4C72B0", "classification": "#DD8452", "detection": "#55A868", "regression": "#C44E52"}


def counts_table(df: pd.DataFrame) -> pd.DataFrame:
    """Tasks and paper-scale training images per clinical group (rows) and type (columns)."""
    tasks = df.pivot_table(index="group", columns="type", values="task", aggfunc="count", fill_value=0)
    images = df.groupby("group")["n_train"].sum()
    out = tasks.reindex(columns=list(TASK_TYPES), fill_value=0)
    out["tasks"] = out.sum(axis=1)
    out["n_train"] = images
    return out.sort_values("n_train", ascending=False)


def plot_task_map(df: pd.DataFrame) -> plt.Figure:
    """One bar per clinical group, one segment per task: length = training images, colour = task type."""
    order = df.groupby("group")["n_train"].sum().sort_values().index
    fig, ax = plt.subplots(figsize=(10, 4.5))
    for y, group in enumerate(order):
        left = 0
        rows = df[df.group == group].assign(order=lambda d: d.type.map(TASK_TYPES.index))
        rows = rows.sort_values(["order", "n_train"], ascending=[True, False])
        for _, r in rows.iterrows():
            ax.barh(y, r.n_train, left=left, color=TYPE_COLOURS[r.type], edgecolor="white", linewidth=1)
            if r.n_train > 60 * len(r.task):  # label only segments wide enough to hold the name
                ax.text(left + r.n_train / 2, y, r.task, ha="center", va="center", fontsize=6, color="white")
            left += r.n_train
        ax.text(left + 100, y, f"{left:,}", va="center", fontsize=8)
    ax.set_yticks(range(len(order)), order)
    ax.set_xlabel("training images at paper scale (per-task split ours; group totals for obstetrics and breast are "
                  "the study's [S])", fontsize=8)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in TYPE_COLOURS.values()]
    ax.legend(handles, list(TYPE_COLOURS), loc="lower right", fontsize=8, frameon=False)
    ax.set_title("The 27 FMC_UIA tasks by clinical group and type")
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig
