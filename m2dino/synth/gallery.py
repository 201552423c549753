"""Figures and tables of a dataset in the FMC_UIA layout (synthetic or real): one example per task with its label
overlaid, and the counts per task, group and split."""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from PIL import Image

from m2dino.registry import all_tasks

SPLITS = ("train", "val", "test")


def _split_rows(root: Path, split: str) -> pd.DataFrame:
    """All CSV rows of a split (any CSV in csv_files/ may hold any task's rows)."""
    folder = root / split / "csv_files"
    frames = [pd.read_csv(p) for p in sorted(folder.glob("*.csv"))] if folder.exists() else []
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame({"task_id": []})


def count_table(root: Path) -> pd.DataFrame:
    """Images per task and split, with type and group."""
    per_split = {s: _split_rows(Path(root), s)["task_id"].value_counts() for s in SPLITS}
    return pd.DataFrame([{"task": t.id, "type": t.type, "group": t.group,
                          **{s: int(per_split[s].get(t.id, 0)) for s in SPLITS}} for t in all_tasks()])


def _show(ax, root: Path, split: str, task, rows: pd.DataFrame) -> None:
    ax.set_axis_off()
    if rows.empty:
        ax.set_title(f"{task.id}\n(no images)", fontsize=6)
        return
    row = rows.iloc[0]
    base = root / split / "csv_files"
    img = np.asarray(Image.open(base / row["image_path"]).convert("L"))
    ax.imshow(img, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    info = ""
    if task.type == "segmentation":
        mask = np.asarray(Image.open(base / row["mask_path"]))
        over = np.ma.masked_where(mask == 0, mask)
        ax.imshow(over, cmap="autumn", alpha=0.45, vmin=1, vmax=max(task.num_classes - 1, 1),
                  interpolation="nearest")
        info = f"{task.num_classes - 1} class(es)"
    elif task.type == "classification":
        info = f"class {int(row['mask'])} of {task.num_classes}"
    elif task.type == "detection":
        x0, y0, x1, y1 = (float(row[k]) for k in ("x_min", "y_min", "x_max", "y_max"))
        ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, ec="yellow", lw=0.8))
        info = "box"
    else:
        pts = np.array([json.loads(row[f"point_{k}_xy"]) for k in range(1, task.num_classes + 1)])
        ax.plot(pts[:, 0], pts[:, 1], "o", ms=2.5, mfc="yellow", mec="red", mew=0.4)
        info = f"{task.num_classes} keypoints"
    ax.set_title(f"{task.id}\n{info}", fontsize=6)


def gallery_figure(root: Path, split: str = "train", title: str = "") -> Figure:
    """One example per task, its label overlaid (mask, class, box or keypoints)."""
    tasks = all_tasks()
    cols = 7
    fig, axs = plt.subplots(int(np.ceil(len(tasks) / cols)), cols, figsize=(cols * 1.6, 4 * 1.75))
    df = _split_rows(Path(root), split)
    for ax, task in zip(axs.ravel(), tasks):
        _show(ax, Path(root), split, task, df[df["task_id"] == task.id])
    for ax in axs.ravel()[len(tasks):]:
        ax.set_axis_off()
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig

