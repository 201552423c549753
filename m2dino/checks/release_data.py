"""A few made-up images per task in the FMC_UIA release's layout and with its variety, for rehearsing the paper run.

The layout is the release's (docs/challenge-layout.md): ``<split>/csv_files/<task>.csv`` with paths relative to the
CSV's folder, images and masks under ``Segmentation/{Two,Three,Four,Five}/<dataset>/``, ``Classification/<dataset>/``,
``Detection/<dataset>/`` and ``Regression/<dataset>/`` (``<dataset>`` is the task id here, as in the synthetic
benchmark; the release's own dataset folder names are not documented here, and m2dino never reads them), the
release's CSV columns (``mask`` holds a class index, ``Regression`` has a capital R). What the synthetic benchmark
does not have and the release does: RGB JPEGs beside grey PNGs, and non-square images of several sizes, every image
of a task a different size. ``test/`` is m2dino's addition (the challenge keeps its test set hidden; training
scores on it, so a real run needs one too). The pixels are smooth noise: nothing here is meant to be learnt.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from m2dino.registry import Task, all_tasks
from m2dino.synth.generate import task_folder

SPLITS = ("train", "val", "test")
# (height, width) of the images, in turn: all non-square, landscape and portrait, as in the release's scanners
SIZES = ((480, 640), (600, 800), (434, 636), (720, 960), (576, 448), (300, 420))
# image format and colour, in turn: mostly RGB JPEG, some grey PNG and RGB PNG
KINDS = (("RGB", "jpg"), ("L", "png"), ("RGB", "jpg"), ("RGB", "png"))


def _pixels(rng: np.random.Generator, h: int, w: int, mode: str) -> np.ndarray:
    """Smooth noise (a coarse random grid, upsampled), with a different tint per channel in RGB."""
    coarse = rng.uniform(0, 255, size=(max(2, h // 40), max(2, w // 40))).astype(np.float32)
    grey = np.asarray(Image.fromarray(coarse).resize((w, h), Image.BILINEAR), dtype=np.float32)
    if mode == "L":
        return np.clip(grey, 0, 255).astype(np.uint8)
    tint = rng.uniform(-25, 25, size=3).astype(np.float32)
    return np.clip(grey[..., None] + tint, 0, 255).astype(np.uint8)


def _mask(rng: np.random.Generator, h: int, w: int, classes: int) -> np.ndarray:
    """Class indices 0..classes-1, every class present: one box per foreground class."""
    m = np.zeros((h, w), np.uint8)
    for c in range(1, classes):
        y0, x0 = int(rng.uniform(0.05, 0.5) * h), int(rng.uniform(0.05, 0.5) * w)
        m[y0: y0 + h // 4, x0: x0 + w // 4] = c
    return m


def _target(task: Task, rng: np.random.Generator, i: int, h: int, w: int) -> dict:
    """The task type's CSV cells: class index, box or keypoints, in pixels of the original image."""
    if task.type == "classification":
        return {"mask": i % task.num_classes}
    if task.type == "detection":
        x0, y0 = rng.uniform(0.05, 0.5) * w, rng.uniform(0.05, 0.5) * h
        return {"x_min": round(x0, 1), "y_min": round(y0, 1), "x_max": round(x0 + w / 3, 1),
                "y_max": round(y0 + h / 3, 1)}
    if task.type == "regression":
        return {f"point_{k}_xy": json.dumps([round(rng.uniform(0.1, 0.9) * w, 2), round(rng.uniform(0.1, 0.9) * h, 2)])
                for k in range(1, task.num_classes + 1)}
    return {}


def write_release(root: str | Path, counts: dict[str, int], tasks: list[Task] | None = None, seed: int = 0,
                  scale: float = 1.0) -> Path:
    """Write ``counts[split]`` images per task and split (all 27 tasks unless ``tasks``) into ``root``.

    ``scale`` shrinks every image side (tests use small images; the rehearsal the release's sizes).
    """
    root = Path(root)
    k = 0
    for split, n in counts.items():
        csv_dir = root / split / "csv_files"
        csv_dir.mkdir(parents=True, exist_ok=True)
        for task in tasks or all_tasks():
            folder = root / split / task_folder(task)
            rows = []
            for i in range(int(n)):
                k += 1
                rng = np.random.default_rng([seed, k])
                h, w = (max(32, int(s * scale)) for s in SIZES[k % len(SIZES)])
                mode, ext = KINDS[k % len(KINDS)]
                name = f"{split}_{i:04d}.{ext}"
                (folder / "images").mkdir(parents=True, exist_ok=True)
                Image.fromarray(_pixels(rng, h, w, mode), mode=mode).save(folder / "images" / name)
                row = {"task_id": task.id, "task_name": task.csv_task_name, "num_classes": task.num_classes,
                       "image_path": f"../{task_folder(task)}/images/{name}"}
                if task.type == "segmentation":
                    (folder / "masks").mkdir(parents=True, exist_ok=True)
                    mask = f"{split}_{i:04d}.png"
                    Image.fromarray(_mask(rng, h, w, task.num_classes), mode="L").save(folder / "masks" / mask)
                    row["mask_path"] = f"../{task_folder(task)}/masks/{mask}"
                row.update(_target(task, rng, i, h, w))
                rows.append(row)
            pd.DataFrame(rows).to_csv(csv_dir / f"{task.id}.csv", index=False)
    return root
