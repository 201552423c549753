"""Check a dataset before anything trains on it: every error names the file and the CSV row.

Errors (training refuses to start): missing/unreadable/truncated images and masks, mask size != image size, mask
values outside the task's classes, class labels out of range, bad keypoints (missing, NaN, not JSON, wrong count,
outside the image), bad boxes (missing, outside the image, min >= max), unknown task ids or types contradicting the
registry, missing CSV columns, duplicate rows, the same image in two splits of a task.
Warnings (reported, not blocking): RGB images whose channels are equal, tasks with very few training samples, tasks
without a val split, images shared between one task's training split and another task's evaluation split.

The report is cached under ``results/validation/`` keyed by a hash of the CSVs, the registry and the (path, size,
mtime) of every referenced file, so a clean dataset is checked once.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from m2dino.progress import tqdm  # widgets in JupyterLab, one summary line under papermill

from m2dino import registry
from m2dino.data import io, layout
from m2dino.data.errors import DataError, Problem
from m2dino.data.layout import Record

VERSION = 1  # bump when the checks change, to invalidate cached reports
MIN_TRAIN_WARN = 20  # a task with fewer training images than this gets a warning


@dataclass
class ValidationReport:
    """The outcome of :func:`validate_dataset`."""

    root: str
    layout: str
    errors: list[Problem]
    warnings: list[Problem]
    summary: pd.DataFrame  # one row per task: counts per split, image sizes, channels, class balance
    key: str = ""
    cached: bool = False
    n_records: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    def format(self, max_problems: int = 50) -> str:
        """The summary table, then errors and warnings (at most ``max_problems`` of each)."""
        lines = [f"dataset {self.root} ({self.layout} layout, {self.n_records} records"
                 f"{', cached report' if self.cached else ''})", ""]
        lines.append(self.summary.to_string(index=False) if len(self.summary) else "(no tasks found)")
        for name, probs in (("ERROR", self.errors), ("WARNING", self.warnings)):
            if not probs:
                continue
            lines += ["", f"{len(probs)} {name.lower()}(s):"]
            lines += [f"  {name}: {p}" for p in probs[:max_problems]]
            if len(probs) > max_problems:
                lines.append(f"  ... and {len(probs) - max_problems} more")
        lines += ["", "OK: no errors" if self.ok else f"FAILED: {len(self.errors)} error(s)"]
        return "\n".join(lines)

    def to_json(self) -> str:
        return json.dumps({"root": self.root, "layout": self.layout, "key": self.key, "n_records": self.n_records,
                           "errors": [p.to_dict() for p in self.errors],
                           "warnings": [p.to_dict() for p in self.warnings],
                           "summary": self.summary.to_dict("records"), "extra": self.extra}, indent=1)

    @classmethod
    def from_json(cls, text: str) -> ValidationReport:
        d = json.loads(text)
        return cls(d["root"], d["layout"], [Problem(**p) for p in d["errors"]],
                   [Problem(**p) for p in d["warnings"]], pd.DataFrame(d["summary"]), d["key"], True,
                   d["n_records"], d.get("extra", {}))


@dataclass
class _Checked:
    """What checking one record found."""

    problems: list[Problem] = field(default_factory=list)
    size: tuple[int, int] | None = None  # (H, W)
    channels: int = 0
    equal_rgb: bool = False
    digest: str | None = None
    classes: np.ndarray | None = None  # seg: pixel counts per class; cls: one-hot of the label


def _check(rec: Record, task: registry.Task, root: Path) -> _Checked:
    out = _Checked()

    def err(message: str) -> None:
        out.problems.append(Problem("error", message, layout._rel(rec.source, root), rec.row, rec.task_id))

    try:
        data = rec.image.read_bytes() if rec.image.is_file() else None
        if data is None:
            raise DataError(f"image not found: {rec.image_path!r} (resolved to {rec.image})")
        pix = io.read_image(rec.image, data)
    except (DataError, OSError) as e:
        err(str(e) if rec.image_path in str(e) else f"{e} (image_path {rec.image_path!r})")
        if task.type == "classification":  # the label can still be checked
            try:
                layout.parse_label(rec, task, root)
            except DataError as e2:
                out.problems.append(Problem("error", str(e2).split(": ", 1)[-1], layout._rel(rec.source, root),
                                            rec.row, rec.task_id))
        return out
    out.digest = hashlib.blake2b(data, digest_size=16).hexdigest()
    out.size = (int(pix.shape[0]), int(pix.shape[1]))
    out.channels = 1 if pix.ndim == 2 else 3
    if pix.ndim == 3:
        out.equal_rgb = bool((pix[..., 0] == pix[..., 1]).all() and (pix[..., 1] == pix[..., 2]).all())
    try:
        if task.type == "segmentation":
            m = io.read_mask(rec.mask)
            if m.shape != out.size:
                err(f"mask {rec.mask_path!r} is {m.shape[1]}x{m.shape[0]} (WxH) but its image is "
                    f"{out.size[1]}x{out.size[0]}")
            counts = np.bincount(m.ravel().clip(min=0))
            bad = np.nonzero(counts[task.num_classes:])[0] + task.num_classes
            if (m < 0).any() or bad.size:
                vals = sorted(set(bad.tolist()) | ({int(m.min())} if m.min() < 0 else set()))
                err(f"mask {rec.mask_path!r} has values {vals[:10]} outside the task's classes "
                    f"0..{task.num_classes - 1}")
            out.classes = np.pad(counts, (0, max(0, task.num_classes - counts.size)))[:task.num_classes]
        elif task.type == "classification":
            out.classes = np.eye(task.num_classes, dtype=np.int64)[layout.parse_label(rec, task, root)]
        elif task.type == "detection":
            layout.parse_box(rec, out.size, root)
        else:
            layout.parse_points(rec, task, out.size, root)
    except DataError as e:
        msg = str(e)
        prefix = rec.where(root) + ": "
        err(msg[len(prefix):] if msg.startswith(prefix) else msg)
    return out


def _stat(p: Path | None) -> list:
    if p is None:
        return []
    try:
        s = p.stat()
        return [str(p), s.st_size, s.st_mtime_ns]
    except OSError:
        return [str(p), None]


def cache_key(scan: layout.Scan, tasks: list[str] | None, min_train: int) -> str:
    """Hash of what the report depends on: the tables' bytes, the registry, every referenced file's stat."""
    h = hashlib.sha256()
    h.update(json.dumps([VERSION, str(scan.root), sorted(tasks) if tasks else None, min_train]).encode())
    h.update(registry.TASKS_YAML.read_bytes() + registry.CLINICAL_YAML.read_bytes())
    for src in scan.sources:
        if src.is_file():
            h.update(str(src).encode() + src.read_bytes())
        elif src.is_dir():
            h.update(json.dumps(sorted(str(p) for p in src.rglob("*"))).encode())
    for r in scan.records:
        h.update(json.dumps([_stat(r.image), _stat(r.mask)]).encode())
    return h.hexdigest()[:20]


def _default_cache_dir() -> Path:
    from m2dino.paths import RESULTS
    return RESULTS / "validation"


def validate_dataset(root: Path | str, tasks: list[str] | None = None, *, use_cache: bool = True,
                     cache_dir: Path | None = None, workers: int | None = None,
                     min_train: int = MIN_TRAIN_WARN) -> ValidationReport:
    """Check every record of ``root`` (or of the given task ids) and summarise each task.

    Args:
        root: the dataset folder (challenge or simple layout, auto-detected).
        tasks: restrict to these task ids; a requested task with no training rows is an error.
        use_cache: reuse (and write) the cached report when nothing it depends on changed.
        cache_dir: where reports are cached (default ``results/validation``).
        workers: threads decoding images (default: 2x the CPU count, at most 16).
        min_train: fewer training images than this in a task gives a warning.
    """
    s = layout.scan(root, tasks)
    key = cache_key(s, tasks, min_train)
    cache_file = (Path(cache_dir) if cache_dir else _default_cache_dir()) / f"{key}.json"
    if use_cache and cache_file.is_file():
        try:
            return ValidationReport.from_json(cache_file.read_text())
        except (json.JSONDecodeError, KeyError, TypeError):
            pass  # a corrupt cache entry is recomputed
    report = _validate(s, tasks, workers, min_train)
    report.key = key
    if use_cache:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(report.to_json())
        tmp.replace(cache_file)
    return report


def _validate(s: layout.Scan, tasks: list[str] | None, workers: int | None, min_train: int) -> ValidationReport:
    root = s.root
    errors = [p for p in s.problems if p.severity == "error"]
    warnings = [p for p in s.problems if p.severity == "warning"]
    by_id = {t.id: t for t in registry.all_tasks()}
    workers = workers or min(16, 2 * (os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        checked = list(tqdm(pool.map(lambda r: _check(r, by_id[r.task_id], root), s.records), total=len(s.records),
                            desc="validate", disable=None, leave=False))
    for c in checked:
        errors += c.problems

    # duplicates within a split, the same image in two splits of one task, cross-task train/eval sharing
    seen_path: dict[tuple, Record] = {}
    seen_digest: dict[tuple, tuple[str, Record]] = {}
    train_digests: dict[str, set[str]] = defaultdict(set)
    for rec, c in zip(s.records, checked):
        kp = (rec.task_id, rec.split, rec.image)
        if kp in seen_path:
            first = seen_path[kp]
            errors.append(Problem("error", f"duplicate row: image {rec.image_path!r} already listed at "
                                           f"{first.where(root)}", layout._rel(rec.source, root), rec.row,
                                  rec.task_id))
            continue
        seen_path[kp] = rec
        if c.digest is None:
            continue
        kd = (rec.task_id, c.digest)
        if kd in seen_digest and seen_digest[kd][0] != rec.split:
            first = seen_digest[kd][1]
            errors.append(Problem("error", f"same image in two splits: {rec.image_path!r} ({rec.split}) is "
                                           f"identical to {first.image_path!r} ({first.split}, {first.where(root)})",
                                  layout._rel(rec.source, root), rec.row, rec.task_id))
        seen_digest.setdefault(kd, (rec.split, rec))
        if rec.split == "train":
            train_digests[c.digest].add(rec.task_id)
    shared = Counter()
    for rec, c in zip(s.records, checked):
        if rec.split != "train" and c.digest is not None:
            for other in train_digests.get(c.digest, ()):
                if other != rec.task_id:
                    shared[(rec.task_id, rec.split, other)] += 1
    for (tid, split, other), n in sorted(shared.items()):
        warnings.append(Problem("warning", f"{n} {split} image(s) of task {tid!r} are training images of task "
                                           f"{other!r} (cross-task leakage when they train together)",
                                task_id=tid))

    summary, extra = _summarise(s.records, checked, by_id)
    present = set(summary["task"]) if len(summary) else set()
    for row in summary.to_dict("records"):
        if row["train"] < min_train:
            warnings.append(Problem("warning", f"task {row['task']!r} has only {row['train']} training images "
                                               f"(fewer than {min_train})", task_id=row["task"]))
        if row["val"] == 0:
            warnings.append(Problem("warning", f"task {row['task']!r} has no val split (model selection uses it)",
                                    task_id=row["task"]))
        n_eq = extra["equal_rgb"].get(row["task"], 0)
        if n_eq:
            warnings.append(Problem("warning", f"task {row['task']!r}: {n_eq} RGB image(s) have three equal "
                                               f"channels (grayscale stored as RGB; harmless, but 3x the disk)",
                                    task_id=row["task"]))
    for tid in tasks or []:
        if tid not in by_id:
            errors.append(Problem("error", f"unknown task id {tid!r} requested; known ids: {', '.join(by_id)}"))
        elif tid not in present or summary.set_index("task").loc[tid, "train"] == 0:
            errors.append(Problem("error", f"task {tid!r} has no training rows in {root}", task_id=tid))
    return ValidationReport(str(root), s.layout, errors, warnings, summary, n_records=len(s.records),
                            extra={"equal_rgb": extra["equal_rgb"]})


def _summarise(records: list[Record], checked: list[_Checked], by_id: dict) -> tuple[pd.DataFrame, dict]:
    groups: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(records):
        groups[r.task_id].append(i)
    rows, equal_rgb = [], {}
    order = {t: i for i, t in enumerate(by_id)}
    for tid in sorted(groups, key=order.get):
        idx, task = groups[tid], by_id[tid]
        counts = Counter(records[i].split for i in idx)
        sizes = np.array([checked[i].size for i in idx if checked[i].size is not None]).reshape(-1, 2)
        chans = {checked[i].channels for i in idx if checked[i].channels}
        equal_rgb[tid] = sum(checked[i].equal_rgb for i in idx)
        cls = [checked[i].classes for i in idx if checked[i].classes is not None and records[i].split == "train"]
        if cls:
            tot = np.sum(cls, axis=0).astype(float)
            frac = tot / max(tot.sum(), 1)
            balance = " ".join(f"{k}:{v:.2f}" for k, v in enumerate(frac))
        else:
            balance = "-"
        rows.append({
            "task": tid, "type": task.type, "train": counts.get("train", 0), "val": counts.get("val", 0),
            "test": counts.get("test", 0), "errors": sum(len(checked[i].problems) for i in idx),
            "size_median_hw": "-" if not len(sizes) else "x".join(str(int(v)) for v in np.median(sizes, axis=0)),
            "size_range_hw": "-" if not len(sizes) else
            f"{sizes[:, 0].min()}x{sizes[:, 1].min()}..{sizes[:, 0].max()}x{sizes[:, 1].max()}",
            "channels": "/".join({1: "gray", 3: "rgb"}[c] for c in sorted(chans)) or "-",
            "balance_train": balance,
        })
    cols = ["task", "type", "train", "val", "test", "errors", "size_median_hw", "size_range_hw", "channels",
            "balance_train"]
    return pd.DataFrame(rows, columns=cols), {"equal_rgb": equal_rgb}


def raise_if_invalid(root: Path | str, tasks: list[str] | None = None, **kwargs) -> ValidationReport:
    """Validate (cached) and raise :class:`DataError` with the errors if there are any; training calls this first."""
    report = validate_dataset(root, tasks, **kwargs)
    if not report.ok:
        shown = "\n".join(f"  {p}" for p in report.errors[:30])
        more = f"\n  ... and {len(report.errors) - 30} more" if len(report.errors) > 30 else ""
        raise DataError(f"dataset {report.root} has {len(report.errors)} error(s); refusing to train. "
                        f"Run `python -m m2dino validate data.root={report.root}` for the full report.\n{shown}{more}")
    return report
