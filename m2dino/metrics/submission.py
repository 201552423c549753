"""Predictions in the FMC_UIA challenge's submission format (docs/challenge-layout.md, "Predictions"), written and
read back, and scored with the same metric code as training.

Format [C]:
- segmentation: a PNG of class indices at ``OUT/<mask_path without leading ../>``, at the original size;
- ``OUT/classification_predictions.json``: records ``{image_path, task_id, predicted_class, predicted_probs}``;
- ``OUT/detection_predictions.json``: records ``{image_path, task_id, bbox_pixels: [x_min, y_min, x_max, y_max]}``;
- ``OUT/regression_predictions.json``: records ``{image_path, task_id, predicted_points_pixels: [x1, y1, x2, ...]}``;
``image_path`` is exactly the CSV's value.

The reader is stricter than the challenge's evaluator [ours], which silently skips missing predictions and resizes
masks of the wrong size: here a missing, extra, duplicated or malformed prediction is an error naming the file (and
the record's index). Records for registry tasks that are not being scored are ignored, so a submission covering all
tasks can be scored on a subset. Multi-class probabilities must sum to 1, because the challenge's AUC call
(scikit-learn, multi-class one-vs-rest) refuses them otherwise.

Ground truth is passed as plain per-task lists of records (see :func:`score_submission`), so this module does not
depend on the dataset reader.
"""
from __future__ import annotations

import json
import math
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from m2dino.metrics.bootstrap import bootstrap_ci
from m2dino.metrics.evaluate import _np, score_task
from m2dino.registry import get_task, task_ids

PRED_FILES = {"classification": "classification_predictions.json", "detection": "detection_predictions.json",
              "regression": "regression_predictions.json"}
PRED_KEYS = {"classification": ("predicted_class", "predicted_probs"), "detection": ("bbox_pixels",),
             "regression": ("predicted_points_pixels",)}
_MASK_MODES = ("1", "L", "P", "I", "I;16")


def mask_prediction_path(out_dir: str | Path, mask_path: str) -> Path:
    """Where the challenge expects the predicted mask of the CSV row whose ``mask_path`` is given."""
    parts = list(PurePosixPath(mask_path.replace("\\", "/")).parts)
    while parts and parts[0] in ("..", "."):
        parts.pop(0)
    if not parts or PurePosixPath(mask_path).is_absolute() or ".." in parts:
        raise ValueError(f"mask_path {mask_path!r} is not a path relative to the CSV folder (e.g. ../Segmentation/...)")
    return Path(out_dir).joinpath(*parts)


def _number_list(value: Any) -> list[float]:
    return [float(v) for v in np.asarray(_np(value), dtype=np.float64).reshape(-1)]


class SubmissionWriter:
    """Collects predictions (original pixels) and writes them in the challenge's format.

    Segmentation masks are written at once; the JSON files are written by :meth:`close` (or on leaving a ``with``
    block), one per task type that received predictions.
    """

    def __init__(self, out_dir: str | Path) -> None:
        self.out_dir = Path(out_dir)
        self.records: dict[str, list[dict]] = {kind: [] for kind in PRED_FILES}
        self._seen: set[tuple[str, str]] = set()

    def __enter__(self) -> "SubmissionWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.close()

    def add(self, task_id: str, image_path: str, prediction: Any, mask_path: str | None = None) -> None:
        """One image's prediction: seg int mask [H0, W0] (needs ``mask_path``), cls probabilities [C],
        det box [4] xyxy pixels, reg keypoints [K, 2] xy pixels."""
        task = get_task(task_id)
        key = (task_id, image_path)
        if key in self._seen:
            raise ValueError(f"prediction for task {task_id}, image {image_path} added twice")
        self._seen.add(key)
        if task.type == "segmentation":
            if mask_path is None:
                raise ValueError(f"task {task_id}, image {image_path}: a segmentation prediction needs the mask_path")
            mask = _np(prediction)
            if mask.ndim != 2 or mask.size == 0 or mask.min() < 0 or mask.max() >= min(task.num_classes, 256):
                raise ValueError(f"task {task_id}, image {image_path}: mask must be 2-D class indices "
                                 f"0..{task.num_classes - 1}; got shape {mask.shape}")
            path = mask_prediction_path(self.out_dir, mask_path)
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(mask.astype(np.uint8)).save(path)
            return
        rec: dict[str, Any] = {"image_path": image_path, "task_id": task_id}
        values = _number_list(prediction)
        if task.type == "classification":
            if len(values) != task.num_classes:
                raise ValueError(f"task {task_id}, image {image_path}: {len(values)} probabilities for "
                                 f"{task.num_classes} classes")
            rec["predicted_class"] = int(np.argmax(values))
            rec["predicted_probs"] = values
        elif task.type == "detection":
            if len(values) != 4:
                raise ValueError(f"task {task_id}, image {image_path}: a box has 4 values, got {len(values)}")
            rec["bbox_pixels"] = values
        else:
            if len(values) != 2 * task.num_classes:
                raise ValueError(f"task {task_id}, image {image_path}: expected {task.num_classes} keypoints (x, y), "
                                 f"got {len(values)} values")
            rec["predicted_points_pixels"] = values
        self.records[task.type].append(rec)

    def close(self) -> list[Path]:
        """Write the JSON files of the task types that received predictions; returns their paths."""
        written = []
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for kind, recs in self.records.items():
            if recs:
                path = self.out_dir / PRED_FILES[kind]
                path.write_text(json.dumps(recs, indent=1))
                written.append(path)
        return written


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _read_json_records(path: Path, kind: str, wanted: dict[str, set[str]]) -> dict[tuple[str, str], dict]:
    """Records of ``path`` for the tasks in ``wanted`` (task -> image paths), validated and keyed by
    (task_id, image_path)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; tasks {sorted(wanted)} need their {kind} predictions there")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a list of records, got {type(data).__name__}")
    known, out = set(task_ids()), {}
    for i, rec in enumerate(data):
        at = f"{path}, record {i}"
        if not isinstance(rec, dict):
            raise ValueError(f"{at}: expected an object, got {type(rec).__name__}")
        missing = [k for k in ("image_path", "task_id", *PRED_KEYS[kind]) if k not in rec]
        if missing:
            raise ValueError(f"{at}: missing keys {missing}")
        tid, img = rec["task_id"], rec["image_path"]
        if not isinstance(tid, str) or not isinstance(img, str):
            raise ValueError(f"{at}: task_id and image_path must be strings")
        if tid not in known:
            raise ValueError(f"{at}: unknown task_id {tid!r}")
        task = get_task(tid)
        if task.type != kind:
            raise ValueError(f"{at}: task {tid} is a {task.type} task, not {kind}")
        if tid not in wanted:
            continue
        if img not in wanted[tid]:
            raise ValueError(f"{at}: extra prediction, image {img!r} is not among the {len(wanted[tid])} "
                             f"ground-truth images of task {tid}")
        if (tid, img) in out:
            raise ValueError(f"{at}: second prediction for task {tid}, image {img!r}")
        out[(tid, img)] = _check_record(rec, task.num_classes, kind, at)
    return out


def _check_record(rec: dict, num_classes: int, kind: str, at: str) -> Any:
    """The record's prediction in the form :func:`score_task` takes, or a clear error."""
    def numbers(key: str, length: int) -> list[float]:
        v = rec[key]
        if not isinstance(v, list) or len(v) != length or not all(_is_number(x) for x in v):
            raise ValueError(f"{at}: {key} must be a list of {length} finite numbers, got {str(v)[:80]}")
        return [float(x) for x in v]

    if kind == "classification":
        probs = numbers("predicted_probs", num_classes)
        c = rec["predicted_class"]
        if not _is_number(c) or int(c) != c or not 0 <= c < num_classes:
            raise ValueError(f"{at}: predicted_class must be an integer in 0..{num_classes - 1}, got {c!r}")
        if num_classes > 2 and not np.allclose(1.0, sum(probs)):
            raise ValueError(f"{at}: predicted_probs sum to {sum(probs):.6g}, not 1; the challenge's multi-class AUC "
                             "(scikit-learn one-vs-rest) needs probabilities")
        return {"probs": probs, "predicted_class": int(c)}
    if kind == "detection":
        return numbers("bbox_pixels", 4)
    return np.array(numbers("predicted_points_pixels", 2 * num_classes)).reshape(num_classes, 2)


def _read_mask(path: Path, what: str) -> np.ndarray:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing {what}")
    try:
        with Image.open(path) as im:
            if im.mode not in _MASK_MODES:
                raise ValueError(f"{path}: {what} must be a single-channel PNG of class indices, got mode {im.mode}")
            return np.array(im).astype(np.int64)
    except OSError as e:
        raise ValueError(f"{path}: unreadable {what} ({e})") from None


def _missing_error(task_id: str, where: Path, missing: list[str]) -> ValueError:
    return ValueError(f"{where}: no prediction for {len(missing)} ground-truth image(s) of task {task_id}, "
                      f"e.g. {missing[:5]}")


def load_submission(pred_dir: str | Path, gt_records_by_task: dict[str, list[dict]]) -> dict[str, list]:
    """Predictions of ``pred_dir``, per task, in the order of the ground-truth records (see
    :func:`score_submission`), in the form :func:`m2dino.metrics.evaluate.score_task` takes."""
    pred_dir = Path(pred_dir)
    by_kind: dict[str, dict[str, set[str]]] = {}
    for tid, recs in gt_records_by_task.items():
        paths = [r["image_path"] for r in recs]
        if len(set(paths)) != len(paths):
            raise ValueError(f"ground truth of task {tid} repeats image paths")
        by_kind.setdefault(get_task(tid).type, {})[tid] = set(paths)
    json_preds: dict[tuple[str, str], Any] = {}
    for kind, wanted in by_kind.items():
        if kind != "segmentation":
            json_preds.update(_read_json_records(pred_dir / PRED_FILES[kind], kind, wanted))
    out = {}
    for tid, recs in gt_records_by_task.items():
        task = get_task(tid)
        if task.type == "segmentation":
            preds = []
            no_mask = [r["image_path"] for r in recs if not r.get("mask_path")]
            if no_mask:
                raise ValueError(f"ground truth of segmentation task {tid} lacks mask_path for {no_mask[:5]}")
            for r in recs:
                path = mask_prediction_path(pred_dir, r["mask_path"])
                if not path.is_file():
                    missing = [q["image_path"] for q in recs if not mask_prediction_path(pred_dir, q["mask_path"]).is_file()]
                    raise FileNotFoundError(f"{path}: missing predicted mask (task {tid}, image {r['image_path']}; "
                                            f"{len(missing)} of {len(recs)} masks of this task are missing)")
                mask = _read_mask(path, "predicted mask")
                h, w = _gt_size(r)
                if mask.shape != (h, w):
                    raise ValueError(f"{path}: predicted mask is {mask.shape[0]}x{mask.shape[1]} (HxW), the original "
                                     f"image is {h}x{w}")
                bad = np.unique(mask[mask >= task.num_classes])
                if bad.size:
                    raise ValueError(f"{path}: class indices {bad[:5].tolist()} outside 0..{task.num_classes - 1}")
                preds.append(mask)
            out[tid] = preds
        else:
            missing = [r["image_path"] for r in recs if (tid, r["image_path"]) not in json_preds]
            if missing:
                raise _missing_error(tid, pred_dir / PRED_FILES[task.type], missing)
            out[tid] = [json_preds[(tid, r["image_path"])] for r in recs]
    return out


def _gt_size(rec: dict) -> tuple[int, int]:
    if "orig_size" in rec and rec["orig_size"] is not None:
        return int(rec["orig_size"][0]), int(rec["orig_size"][1])
    return tuple(_gt_target(rec).shape)  # type: ignore[return-value]


def _gt_target(rec: dict) -> Any:
    t = rec["target"]
    return _read_mask(Path(t), "ground-truth mask") if isinstance(t, (str, Path)) else t


def score_submission(pred_dir: str | Path, gt_records_by_task: dict[str, list[dict]], n_boot: int = 1000,
                     seed: int = 0) -> pd.DataFrame:
    """Score a prediction folder in the challenge's format against ground truth.

    Args:
        gt_records_by_task: task id -> one record per image: ``image_path`` (the CSV value), ``target`` in original
            pixels (seg: int mask [H0, W0] or the path of its PNG; cls: label; det: box [4] xyxy; reg: keypoints
            [K, 2]), ``orig_size`` (H0, W0), and for segmentation ``mask_path`` (the CSV value).
        n_boot: bootstrap resamples for the primary metric's 95% interval (0: no interval).

    Returns:
        One row per task and metric: ``task``, ``type``, ``metric``, ``value``, ``ci_low``, ``ci_high`` (primary
        metric only), ``n`` (images).
    """
    preds = load_submission(pred_dir, gt_records_by_task)
    rows = []
    for tid, recs in gt_records_by_task.items():
        task = get_task(tid)
        sizes = [r["orig_size"] for r in recs] if all(r.get("orig_size") is not None for r in recs) else None
        summary, df = score_task(tid, preds[tid], [_gt_target(r) for r in recs],
                                 image_paths=[r["image_path"] for r in recs], orig_sizes=sizes)
        lo, hi = bootstrap_ci(tid, df, n_boot=n_boot, seed=seed) if n_boot else (float("nan"), float("nan"))
        for metric, value in summary.items():
            primary = metric == task.primary_metric
            rows.append({"task": tid, "type": task.type, "metric": metric, "value": value,
                         "ci_low": lo if primary else float("nan"), "ci_high": hi if primary else float("nan"),
                         "n": len(recs)})
    return pd.DataFrame(rows, columns=["task", "type", "metric", "value", "ci_low", "ci_high", "n"])
