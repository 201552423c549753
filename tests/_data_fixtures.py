"""Tiny datasets for the data tests, written with PIL and pandas (no dependency on the synthetic generator)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

TASKS = ("breast_lesion", "breast_2cls", "thyroid_nodule_det", "FUGC")
COUNTS = {"train": 4, "val": 2, "test": 2}
FOLDER = {"segmentation": "Segmentation/Two", "classification": "Classification", "detection": "Detection",
          "regression": "Regression"}
TYPE = {"breast_lesion": "segmentation", "breast_2cls": "classification", "thyroid_nodule_det": "detection",
        "FUGC": "regression", "cardiac_multi": "segmentation", "fetal_head_pos_cls": "classification",
        "IUGC": "regression"}
NAME = {"segmentation": "segmentation", "classification": "classification", "detection": "detection",
        "regression": "Regression"}
NUM = {"breast_lesion": 2, "breast_2cls": 2, "thyroid_nodule_det": 1, "FUGC": 2, "cardiac_multi": 4,
       "fetal_head_pos_cls": 8, "IUGC": 3}


def noise_image(seed: int, size_hw: tuple[int, int], rgb: bool = False) -> Image.Image:
    """A distinct image per seed (so no two fixture images are identical)."""
    a = np.random.default_rng(seed).integers(0, 256, size=(*size_hw, 3) if rgb else size_hw, dtype=np.uint8)
    return Image.fromarray(a)


def target_for(task_id: str, i: int, size_hw: tuple[int, int]) -> dict:
    h, w = size_hw
    t = TYPE[task_id]
    if t == "classification":
        return {"mask": i % NUM[task_id]}
    if t == "detection":
        return {"x_min": 10 + i, "y_min": 8, "x_max": 30 + i, "y_max": 20.5}
    if t == "regression":
        return {f"point_{k + 1}_xy": json.dumps([5.0 + 7 * k + i, 6.0 + 9 * k]) for k in range(NUM[task_id])}
    return {}


def make_challenge(root: Path, tasks: tuple[str, ...] = TASKS, counts: dict | None = None,
                   size_hw: tuple[int, int] = (48, 64), seed: int = 0) -> Path:
    """ROOT/<split>/csv_files/<task>.csv with images (and masks) in the FMC_UIA layout."""
    counts = counts or COUNTS
    k = seed * 100000
    for split, n in counts.items():
        csv_dir = root / split / "csv_files"
        csv_dir.mkdir(parents=True, exist_ok=True)
        for tid in tasks:
            t = TYPE[tid]
            rows = []
            for i in range(n):
                k += 1
                rel = f"{FOLDER[t]}/{tid}/images/{split}_{i:03d}.png"
                img = root / split / rel
                img.parent.mkdir(parents=True, exist_ok=True)
                noise_image(k, size_hw).save(img)
                row = {"task_id": tid, "task_name": NAME[t], "num_classes": NUM[tid], "image_path": f"../{rel}"}
                if t == "segmentation":
                    m = np.zeros(size_hw, np.uint8)
                    m[10 + i:30, 20:40 + i] = 1
                    if NUM[tid] > 2:
                        m[0:5, 0:5] = NUM[tid] - 1
                    mrel = f"{FOLDER[t]}/{tid}/masks/{split}_{i:03d}.png"
                    (root / split / mrel).parent.mkdir(parents=True, exist_ok=True)
                    Image.fromarray(m).save(root / split / mrel)
                    row["mask_path"] = f"../{mrel}"
                row.update(target_for(tid, i, size_hw))
                rows.append(row)
            pd.DataFrame(rows).to_csv(csv_dir / f"{tid}.csv", index=False)
    return root


def make_simple(root: Path, counts: dict | None = None, size_hw: tuple[int, int] = (40, 56)) -> Path:
    """ROOT/<split>/<task_id>/images (+ masks/ or labels.csv), the simple layout."""
    counts = counts or COUNTS
    k = 7_000_000
    for split, n in counts.items():
        for tid in TASKS:
            t = TYPE[tid]
            tdir = root / split / tid
            (tdir / "images").mkdir(parents=True, exist_ok=True)
            rows = []
            for i in range(n):
                k += 1
                name = f"img{i:03d}.{'jpg' if t == 'classification' else 'png'}"
                noise_image(k, size_hw).save(tdir / "images" / name)
                if t == "segmentation":
                    (tdir / "masks").mkdir(exist_ok=True)
                    m = np.zeros(size_hw, np.uint8)
                    m[5:20, 5:30] = 1
                    Image.fromarray(m).save(tdir / "masks" / f"img{i:03d}.png")
                    continue
                row = {"image": f"images/{name}"}
                tg = target_for(tid, i, size_hw)
                if t == "classification":
                    tg = {"label": tg["mask"]}
                row.update(tg)
                rows.append(row)
            if rows:
                pd.DataFrame(rows).to_csv(tdir / "labels.csv", index=False)
    return root


def edit_csv(root: Path, split: str, task: str, row: int, /, **values) -> Path:
    """Set cells of one spreadsheet row (header = row 1) of a challenge CSV; returns the CSV path."""
    path = root / split / "csv_files" / f"{task}.csv"
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    for col, v in values.items():
        df.loc[row - 2, col] = v
    df.to_csv(path, index=False)
    return path
