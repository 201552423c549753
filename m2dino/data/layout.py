"""Read a dataset root into records, one per image: the FMC_UIA challenge layout or the simple per-task layout.

Challenge layout (docs/challenge-layout.md)::

    ROOT/<split>/csv_files/*.csv     rows: task_id, task_name, num_classes, image_path, + the task type's columns
    paths in a CSV are relative to the CSV's folder

Simple layout (for a user's own data, documented in data/README.md)::

    ROOT/<split>/<task_id>/images/<name>.png|jpg      every type
    ROOT/<split>/<task_id>/masks/<name>.png           segmentation: class indices, same stem as the image
    ROOT/<split>/<task_id>/labels.csv                 classification: image,label
                                                      detection: image,x_min,y_min,x_max,y_max (pixels)
                                                      regression: image,point_1_xy,...,point_K_xy (JSON "[x, y]")
    paths in labels.csv are relative to the task folder

Reading is lenient: structural problems (missing columns, unknown task ids, type contradicting the registry) are
collected as :class:`Problem`s so that validation reports all of them at once; target values are parsed by the
``parse_*`` functions, which raise :class:`DataError` naming the file and row.
"""
from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pandas as pd

from m2dino import registry
from m2dino.data.errors import DataError, Problem, located

SPLITS = ("train", "val", "test")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
BASE_COLUMNS = ("task_id", "task_name", "num_classes", "image_path")
BOX_COLUMNS = ("x_min", "y_min", "x_max", "y_max")


def point_columns(k: int) -> list[str]:
    return [f"point_{i}_xy" for i in range(1, k + 1)]


def type_columns(task: registry.Task, layout: str = "challenge") -> list[str]:
    """The target columns a task's rows need (as the CSV spells them)."""
    if task.type == "segmentation":
        return ["mask_path"] if layout == "challenge" else []
    if task.type == "classification":
        return ["mask"] if layout == "challenge" else ["label"]
    if task.type == "detection":
        return list(BOX_COLUMNS)
    return point_columns(task.num_classes)


@dataclass(frozen=True)
class Record:
    """One image of one task in one split, with its raw target cells.

    ``fields`` holds the target cells as text under canonical names: ``label`` (classification; the challenge's
    ``mask`` column), ``x_min``..``y_max`` (detection), ``point_k_xy`` (regression, every such column present).
    """

    task_id: str
    type: str
    split: str
    image: Path  # absolute
    image_path: str  # exactly as in the CSV (simple layout: relative to the task folder)
    source: Path  # the CSV the row comes from (simple segmentation: the image itself)
    row: int | None  # spreadsheet row in ``source`` (header = 1); None where there is no CSV
    mask: Path | None = None  # segmentation: absolute mask path
    mask_path: str | None = None  # segmentation: as in the CSV
    fields: dict[str, str] = field(default_factory=dict)

    def where(self, root: Path | None = None) -> str:
        """``<file>, row N`` (the file relative to ``root`` when inside it)."""
        out = _rel(self.source, root) or ""
        return out if self.row is None else f"{out}, row {self.row}"

    def fail(self, message: str, root: Path | None = None) -> DataError:
        return DataError(located(_rel(self.source, root), self.row, message))


@dataclass
class Scan:
    """What reading a root produced: records and structural problems."""

    root: Path
    layout: str  # "challenge" or "simple"
    records: list[Record]
    problems: list[Problem]
    sources: list[Path]  # every CSV (or task folder) read, for cache keys


def _rel(path: Path | None, root: Path | None) -> str | None:
    if path is None:
        return None
    if root is not None:
        try:
            return str(Path(path).relative_to(root))
        except ValueError:
            pass
    return str(path)


def detect_layout(root: Path) -> str:
    """``challenge`` if any split has ``csv_files/``, else ``simple`` if a split holds task folders; else an error."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"dataset root not found: {root}")
    splits = [root / s for s in SPLITS if (root / s).is_dir()]
    if not splits:
        raise DataError(f"{root}: no train/, val/ or test/ folder; expected the FMC_UIA layout "
                        f"(<split>/csv_files/*.csv) or the simple layout (<split>/<task_id>/...), see data/README.md")
    if any((s / "csv_files").is_dir() for s in splits):
        return "challenge"
    known = set(registry.task_ids())
    if any(d.is_dir() and d.name in known for s in splits for d in s.iterdir()):
        return "simple"
    raise DataError(f"{root}: neither layout found: no <split>/csv_files/ folder and no <split>/<task_id>/ folder "
                    f"named after a known task id (see data/README.md)")


def scan(root: Path | str, tasks: list[str] | None = None) -> Scan:
    """Read every split of ``root`` (auto-detecting the layout) into records and problems.

    The challenge layout is read once per state of its CSVs: training builds datasets for every split and unit, and
    re-parsing all 81 CSVs each time cost more than training a smoke unit (measured). An edited CSV changes the key.
    """
    root = Path(root).expanduser().resolve()
    layout = detect_layout(root)
    want = None if tasks is None else frozenset(tasks)
    if layout == "challenge":
        csvs = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size)
                     for split in SPLITS for p in sorted((root / split / "csv_files").glob("*.csv")))
        records, problems, sources = _scan_challenge_cached(root, want, csvs)
        return Scan(root, layout, list(records), list(problems), list(sources))
    records, problems, sources = _scan_simple(root, want)
    return Scan(root, layout, records, problems, sources)


@lru_cache(maxsize=32)
def _scan_challenge_cached(root: Path, want: frozenset[str] | None, csvs: tuple) -> tuple[tuple, tuple, tuple]:
    """``_scan_challenge`` memoised on the CSVs' paths, modification times and sizes (``csvs``)."""
    records, problems, sources = _scan_challenge(root, None if want is None else set(want))
    return tuple(records), tuple(problems), tuple(sources)


def read_records(root: Path | str, tasks: list[str] | None = None) -> list[Record]:
    """Records of ``root``; raises :class:`DataError` listing the structural problems if there are any."""
    s = scan(root, tasks)
    errors = [p for p in s.problems if p.severity == "error"]
    if errors:
        shown = "\n".join(f"  {p}" for p in errors[:20])
        more = f"\n  ... and {len(errors) - 20} more" if len(errors) > 20 else ""
        raise DataError(f"{s.root}: {len(errors)} problem(s) in the dataset's tables:\n{shown}{more}")
    return s.records


# ----------------------------------------------------------------------------------------------- challenge layout
def _read_csv(path: Path) -> pd.DataFrame:
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as e:
        raise DataError(f"{path}: unreadable CSV ({e})") from e
    df.columns = [str(c).strip() for c in df.columns]
    return df


class _Grouped:
    """Collects one problem per (file, key) with its first row and how many rows share it."""

    def __init__(self) -> None:
        self.rows: dict[tuple, list[int]] = defaultdict(list)

    def add(self, key: tuple, row: int) -> None:
        self.rows[key].append(row)

    def problems(self, root: Path) -> list[Problem]:
        out = []
        for (path, task_id, message), rows in self.rows.items():
            more = f" (and {len(rows) - 1} more rows)" if len(rows) > 1 else ""
            out.append(Problem("error", message + more, _rel(path, root), rows[0], task_id))
        return out


def _scan_challenge(root: Path, want: set[str] | None) -> tuple[list[Record], list[Problem], list[Path]]:
    records, problems, sources = [], [], []
    by_id = {t.id: t for t in registry.all_tasks()}
    for split in SPLITS:
        folder = root / split / "csv_files"
        if not folder.is_dir():
            if split != "test" and (root / split).is_dir():
                problems.append(Problem("error", "no csv_files/ folder", _rel(root / split, root)))
            continue
        for csv in sorted(folder.glob("*.csv")):
            sources.append(csv)
            try:
                df = _read_csv(csv)
            except DataError as e:
                problems.append(Problem("error", str(e).split(": ", 1)[-1], _rel(csv, root)))
                continue
            recs, probs = _rows_to_records(df, csv, split, root, by_id, want)
            records += recs
            problems += probs
    return records, problems, sources


def _rows_to_records(df: pd.DataFrame, csv: Path, split: str, root: Path, by_id: dict[str, registry.Task],
                     want: set[str] | None) -> tuple[list[Record], list[Problem]]:
    rel = _rel(csv, root)
    missing = [c for c in ("task_id", "image_path") if c not in df.columns]
    if missing:
        return [], [Problem("error", f"missing CSV column(s) {missing}; found {list(df.columns)}", rel)]
    problems, grouped = [], _Grouped()
    ids = df["task_id"].str.strip()
    skip: set[str] = set()
    for tid in sorted(set(ids) - {""}):
        task = by_id.get(tid)
        if task is None or (want is not None and tid not in want):
            continue
        need = [c for c in ("task_name", "num_classes") if c not in df.columns] + \
               [c for c in type_columns(task) if c not in df.columns]
        if need:
            problems.append(Problem("error", f"missing CSV column(s) {need} needed by task {tid!r} ({task.type}); "
                                             f"found {list(df.columns)}", rel, None, tid))
            skip.add(tid)
    records = []
    extra_points = [c for c in df.columns if c.startswith("point_") and c.endswith("_xy")]
    for i, (tid, row) in enumerate(zip(ids, df.to_dict("records"))):
        rown = i + 2
        if want is not None and tid not in want:
            continue
        if tid == "":
            grouped.add((csv, None, "empty task_id"), rown)
            continue
        task = by_id.get(tid)
        if task is None:
            grouped.add((csv, tid, f"unknown task id {tid!r}; known ids: {', '.join(by_id)}"), rown)
            continue
        if tid in skip:
            continue
        name = row["task_name"].strip()
        if name.lower() != task.csv_task_name.lower():
            grouped.add((csv, tid, f"task_name {name!r} contradicts the registry: task {tid!r} is {task.type} "
                                   f"(task_name {task.csv_task_name!r})"), rown)
            continue
        nc = row["num_classes"].strip()
        if nc != "" and (not _is_int(nc) or int(float(nc)) != task.num_classes):
            grouped.add((csv, tid, f"num_classes {nc!r} contradicts the registry: task {tid!r} has "
                                   f"{task.num_classes}"), rown)
            continue
        image_path = row["image_path"]
        if image_path.strip() == "":
            problems.append(Problem("error", "empty image_path", rel, rown, tid))
            continue
        mask = mask_path = None
        fields: dict[str, str] = {}
        if task.type == "segmentation":
            mask_path = row["mask_path"]
            if mask_path.strip() == "":
                problems.append(Problem("error", "empty mask_path", rel, rown, tid))
                continue
            mask = (csv.parent / mask_path.strip()).resolve()
        elif task.type == "classification":
            fields["label"] = row["mask"]
        elif task.type == "detection":
            fields.update({c: row[c] for c in BOX_COLUMNS})
        else:
            fields.update({c: row[c] for c in extra_points})
        records.append(Record(tid, task.type, split, (csv.parent / image_path.strip()).resolve(),
                              image_path, csv, rown, mask, mask_path, fields))
    return records, problems + grouped.problems(root)


def _is_int(s: str) -> bool:
    try:
        f = float(s)
    except ValueError:
        return False
    return math.isfinite(f) and f == int(f)


# -------------------------------------------------------------------------------------------------- simple layout
def _images_in(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _scan_simple(root: Path, want: set[str] | None) -> tuple[list[Record], list[Problem], list[Path]]:
    records, problems, sources = [], [], []
    by_id = {t.id: t for t in registry.all_tasks()}
    for split in SPLITS:
        sdir = root / split
        if not sdir.is_dir():
            continue
        for tdir in sorted(d for d in sdir.iterdir() if d.is_dir()):
            tid = tdir.name
            if tid.startswith("."):
                continue
            task = by_id.get(tid)
            if task is None:
                problems.append(Problem("error", f"folder is not a known task id; known ids: {', '.join(by_id)}",
                                        _rel(tdir, root)))
                continue
            if want is not None and tid not in want:
                continue
            sources.append(tdir)
            if task.type == "segmentation":
                recs, probs = _simple_segmentation(tdir, split, task, root)
            else:
                recs, probs = _simple_labelled(tdir, split, task, root)
                sources.append(tdir / "labels.csv")
            records += recs
            problems += probs
    return records, problems, sources


def _simple_segmentation(tdir: Path, split: str, task: registry.Task, root: Path) -> tuple[list[Record], list[Problem]]:
    images, problems = _images_in(tdir / "images"), []
    if not images:
        return [], [Problem("error", "no images/ folder with images in it", _rel(tdir, root), None, task.id)]
    masks = {p.stem: p for p in _images_in(tdir / "masks")}
    records = []
    for img in images:
        m = masks.pop(img.stem, None)
        if m is None:
            problems.append(Problem("error", f"no mask for this image (expected masks/{img.stem}.png)",
                                    _rel(img, root), None, task.id))
            continue
        records.append(Record(task.id, task.type, split, img.resolve(), f"images/{img.name}", img.resolve(), None,
                              m.resolve(), f"masks/{m.name}"))
    for stem, m in sorted(masks.items()):
        problems.append(Problem("error", "mask without an image of the same name in images/", _rel(m, root), None,
                                task.id))
    return records, problems


def _simple_labelled(tdir: Path, split: str, task: registry.Task, root: Path) -> tuple[list[Record], list[Problem]]:
    csv = tdir / "labels.csv"
    rel = _rel(csv, root)
    if not csv.is_file():
        return [], [Problem("error", f"labels.csv not found (a {task.type} task needs one, see data/README.md)",
                            rel, None, task.id)]
    try:
        df = _read_csv(csv)
    except DataError as e:
        return [], [Problem("error", str(e).split(": ", 1)[-1], rel, None, task.id)]
    need = [c for c in ["image"] + type_columns(task, "simple") if c not in df.columns]
    if need:
        return [], [Problem("error", f"missing CSV column(s) {need} needed by task {task.id!r} ({task.type}); "
                                     f"found {list(df.columns)}", rel, None, task.id)]
    records, problems = [], []
    extra_points = [c for c in df.columns if c.startswith("point_") and c.endswith("_xy")]
    for i, row in enumerate(df.to_dict("records")):
        image_path = row["image"]
        if image_path.strip() == "":
            problems.append(Problem("error", "empty image", rel, i + 2, task.id))
            continue
        if task.type == "classification":
            fields = {"label": row["label"]}
        elif task.type == "detection":
            fields = {c: row[c] for c in BOX_COLUMNS}
        else:
            fields = {c: row[c] for c in extra_points}
        records.append(Record(task.id, task.type, split, (tdir / image_path.strip()).resolve(), image_path, csv,
                              i + 2, fields=fields))
    return records, problems


# ------------------------------------------------------------------------------------------------ target parsing
def _number(rec: Record, col: str, root: Path | None) -> float:
    raw = rec.fields.get(col, "")
    if raw.strip() == "":
        raise rec.fail(f"{col} is missing", root)
    try:
        v = float(raw)
    except ValueError:
        raise rec.fail(f"{col} {raw!r} is not a number", root) from None
    if not math.isfinite(v):
        raise rec.fail(f"{col} is {raw!r}", root)
    return v


def parse_label(rec: Record, task: registry.Task, root: Path | None = None) -> int:
    """The class index of a classification row, checked against the task's classes."""
    raw = rec.fields.get("label", "").strip()
    if raw == "":
        raise rec.fail("class label is missing", root)
    if not _is_int(raw):
        raise rec.fail(f"class label {raw!r} is not an integer", root)
    v = int(float(raw))
    if not 0 <= v < task.num_classes:
        raise rec.fail(f"class label {v} out of range 0..{task.num_classes - 1} for task {task.id!r}", root)
    return v


def parse_box(rec: Record, size: tuple[int, int] | None = None, root: Path | None = None) -> list[float]:
    """The box [x_min, y_min, x_max, y_max] in original pixels; checked inside ``size`` = (H, W) when given."""
    x0, y0, x1, y1 = (_number(rec, c, root) for c in BOX_COLUMNS)
    if x0 >= x1 or y0 >= y1:
        raise rec.fail(f"box has min >= max: x {x0:g}..{x1:g}, y {y0:g}..{y1:g}", root)
    if size is not None:
        h, w = size
        if x0 < 0 or y0 < 0 or x1 > w or y1 > h:
            raise rec.fail(f"box [{x0:g}, {y0:g}, {x1:g}, {y1:g}] outside the {w}x{h} (WxH) image", root)
    return [x0, y0, x1, y1]


def parse_points(rec: Record, task: registry.Task, size: tuple[int, int] | None = None,
                 root: Path | None = None) -> list[list[float]]:
    """The task's K keypoints [[x, y], ...] in original pixels, from JSON text; checked inside ``size`` = (H, W)."""
    k = task.num_classes
    present = {c: v for c, v in rec.fields.items() if v.strip() != ""}
    extra = sorted(set(present) - set(point_columns(k)))
    if extra:
        raise rec.fail(f"wrong number of keypoints: task {task.id!r} has {k}, row also fills {extra}", root)
    pts = []
    for c in point_columns(k):
        raw = rec.fields.get(c, "")
        if raw.strip() == "":
            raise rec.fail(f"{c} is missing (task {task.id!r} has {k} keypoints)", root)
        try:
            v = json.loads(raw)
        except json.JSONDecodeError:
            raise rec.fail(f"{c} {raw!r} is not JSON text '[x, y]'", root) from None
        if not (isinstance(v, list) and len(v) == 2 and all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                                            for x in v)):
            raise rec.fail(f"{c} {raw!r} is not a JSON pair '[x, y]' of numbers", root)
        x, y = float(v[0]), float(v[1])
        if not (math.isfinite(x) and math.isfinite(y)):
            raise rec.fail(f"{c} {raw!r} is not finite", root)
        if size is not None:
            h, w = size
            if not (0 <= x <= w and 0 <= y <= h):
                raise rec.fail(f"{c} [{x:g}, {y:g}] outside the {w}x{h} (WxH) image", root)
        pts.append([x, y])
    return pts
