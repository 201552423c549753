"""What the paradigm notebooks show: a per-task result table beside the trivial predictor, and training curves.

Reads run folders only (compute is separate from plotting): a plot tweak never retrains.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from m2dino.plotting import save_figure
from m2dino.registry import TASK_TYPES, all_tasks, get_task

TABLE_COLUMNS = ["task", "type", "group", "unit", "seed", "metric", "value", "ci_low", "ci_high", "trivial",
                 "diff_low", "diff_high", "beats_trivial", "n_train", "n_test"]


def result_table(metrics: pd.DataFrame, paradigm: str, n_boot: int) -> pd.DataFrame:
    """One row per task and seed: the primary metric with its 95% CI, the trivial predictor's value beside it, and
    whether the model beats it (``m2dino.metrics.bootstrap.beats_trivial``: the paired 95% interval of model -
    trivial over the run's test images lies above 0), computed as ``beats_trivial.csv`` computes it
    (``m2dino.analysis.delta_s.beats_table``: the same resamples), so the two tables never disagree."""
    from m2dino.analysis.delta_s import beats_table

    is_primary = [m == get_task(t).primary_metric for t, m in zip(metrics["task"], metrics["metric"])]
    prim = metrics[is_primary]
    model = prim[prim["paradigm"] == paradigm]
    trivial = prim[prim["paradigm"] == "trivial"][["experiment", "seed", "task", "value"]]
    trivial = trivial.rename(columns={"value": "trivial"}).drop_duplicates(["experiment", "seed", "task"])
    out = model.merge(trivial, on=["experiment", "seed", "task"], how="left")
    tagged = metrics.assign(is_primary=is_primary)
    beats = pd.concat([beats_table(tagged, exp, paradigm, n_boot).assign(experiment=exp)
                       for exp in sorted(model["experiment"].unique())], ignore_index=True)
    out = out.merge(beats[["experiment", "task", "seed", "diff_low", "diff_high", "beats"]]
                    .rename(columns={"beats": "beats_trivial"}), on=["experiment", "task", "seed"], how="left")
    order = {t.id: i for i, t in enumerate(all_tasks())}
    out = out.assign(_o=out["task"].map(order)).sort_values(["_o", "seed"]).drop(columns="_o")
    return out[TABLE_COLUMNS].reset_index(drop=True)


def show_table(table: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """The table as printed in notebooks: value [ci_low, ci_high] beside the trivial predictor, rounded."""
    fmt = f"{{:.{digits}f}}"
    return pd.DataFrame({
        "task": table["task"], "type": table["type"], "seed": table["seed"], "metric": table["metric"],
        "model [95% CI]": [f"{fmt.format(v)} [{fmt.format(lo)}, {fmt.format(hi)}]"
                           for v, lo, hi in zip(table["value"], table["ci_low"], table["ci_high"])],
        "trivial": table["trivial"].map(fmt.format),
        "model - trivial, paired 95% CI": [f"[{fmt.format(lo)}, {fmt.format(hi)}]"
                                           for lo, hi in zip(table["diff_low"], table["diff_high"])],
        "beats trivial": table["beats_trivial"].map({True: "yes", False: "no"}),
    })


def plot_curves(logs: pd.DataFrame, title: str, out_dir: Path, name: str) -> tuple[Figure, list[Path]]:
    """Training loss per task (mean per epoch, one line per task and seed), one panel per task type.

    Saved as ``out_dir/<name>.png`` and ``.pdf``, byte-reproducible (``m2dino.plotting.save_figure``). The figure is
    left open (a notebook shows it); close it with ``plt.close(fig)`` elsewhere.
    """
    fig, axes = plt.subplots(1, 4, figsize=(13, 3.2), constrained_layout=True)
    logs = logs.assign(type=[get_task(t).type for t in logs["task"]])
    for ax, kind in zip(axes, TASK_TYPES):
        sub = logs[logs["type"] == kind]
        for (task, seed), g in sub.groupby(["task", "seed"], sort=True):
            per_epoch = g.groupby("epoch")["loss"].mean()
            ax.plot(per_epoch.index + 1, per_epoch.values, lw=1, marker=".", label=task if seed == sub["seed"].min()
                    else None)
        ax.set_title(kind)
        ax.set_xlabel("epoch")
        ax.set_yscale("log")
        if kind == TASK_TYPES[0]:
            ax.set_ylabel("training loss (task)")
        if len(sub):
            ax.legend(fontsize=5, ncol=2, frameon=False)
    fig.suptitle(title, fontsize=9)
    return fig, save_figure(fig, Path(out_dir), name)


def summary_line(table: pd.DataFrame) -> str:
    """How many tasks the model beats the trivial predictor on (``m2dino.metrics.bootstrap.beats_trivial``), per
    seed."""
    per_seed = table.groupby("seed")["beats_trivial"].agg(["sum", "size"])
    return "; ".join(f"seed {s}: {int(r['sum'])}/{int(r['size'])} tasks above the trivial predictor (paired 95% "
                     "interval of model - trivial above 0)"
                     for s, r in per_seed.iterrows())
