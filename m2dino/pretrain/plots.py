"""The pretraining figure: the loss curve, and the linear-probe comparison of the in-house backbone against random
init (primary metric per task on the val split, with 95% bootstrap intervals). Reads result tables only; computes
nothing."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from m2dino.plotting import data_label

TYPE_COLORS = {"segmentation": "tab:blue", "classification": "tab:orange", "detection": "tab:green",
               "regression": "tab:purple"}


def figure(cfg, log: pd.DataFrame, summary: pd.DataFrame, reference: str = "random",
           candidate: str = "pretrained") -> plt.Figure:
    """Left: loss per step (and a moving average). Right: per task, the paired relative change of the probe's primary
    metric (direction-aware, so MRE's fall counts as a gain), with the two scores in the label."""
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [1, 1.6]})
    ax0.plot(log.step, log.loss, lw=0.8, alpha=0.5, label="per step")
    k = max(1, len(log) // 15)
    ax0.plot(log.step, log.loss.rolling(k, min_periods=1).mean(), lw=2, label=f"moving mean ({k} steps)")
    ax0.set(xlabel="step", ylabel=f"{cfg.pretrain.objective} loss",
            title=f"self-supervised pretraining ({len(log)} steps, {log.seconds.iloc[-1] / 60:.1f} min)")
    ax0.legend(frameon=False, fontsize=8)
    y = np.arange(len(summary))
    change = 100 * summary.change.to_numpy()
    err = 100 * np.abs(np.stack([summary.change - summary.change_lo, summary.change_hi - summary.change]))
    colors = summary.type.map(TYPE_COLORS).fillna("tab:gray").tolist()
    ax1.barh(y, change, color=colors, alpha=0.8)
    ax1.errorbar(change, y, xerr=err, fmt="none", ecolor="black", capsize=3, lw=1)
    ax1.axvline(0, color="black", lw=0.8)
    ax1.set_xscale("symlog", linthresh=50)  # a near-zero baseline makes a few relative changes huge
    ax1.set_yticks(y, [f"{t} ({m}: {r:.3g} -> {c:.3g})" for t, m, r, c in
                       zip(summary.task, summary.metric, summary[reference], summary[candidate])], fontsize=8)
    ax1.invert_yaxis()
    ax1.set(xlabel=f"relative change, {candidate} vs {reference} init (%, symlog; > 0 = better; paired 95% CI)",
            title=f"linear probes on frozen features ({summary.split.iloc[0] if 'split' in summary else 'val'} split)")
    fig.suptitle(data_label(cfg) + f"; pretrain seed {cfg.pretrain.seed}", fontsize=8, y=0.02, va="bottom")
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig
