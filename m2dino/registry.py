"""The 27-task registry: one record per FMC_UIA task, read from ``conf/tasks.yaml``, with each task's clinical group
read from ``conf/grouping/clinical.yaml`` (the one place the groups are written; ``grouping=clinical`` trains them).

Task ids, types and class counts are the challenge's [C]; organs, groups and per-task training counts are ours and
are checked against the study's published totals [S] on load.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pandas as pd
from omegaconf import OmegaConf

TASKS_YAML = Path(__file__).resolve().parent / "conf" / "tasks.yaml"
CLINICAL_YAML = TASKS_YAML.parent / "grouping" / "clinical.yaml"  # the clinical groups: task -> group
TASK_TYPES = ("segmentation", "classification", "detection", "regression")
# The challenge's CSVs spell the task type this way (docs/challenge-layout.md): note the capital R.
CSV_TASK_NAME = {"segmentation": "segmentation", "classification": "classification",
                 "detection": "detection", "regression": "Regression"}


@dataclass(frozen=True)
class Task:
    """One task of the study."""

    id: str
    type: str
    num_classes: int  # classes incl. background (seg), classes (cls), 1 (det), keypoints (reg)
    organ: str  # anatomy model shared by the tasks of one organ
    group: str  # clinical group (ours, 8 groups)
    probe: str  # linear, convex or phased
    n_train: int  # training images at paper scale (ours, respecting the study's totals)
    primary_metric: str
    direction: int  # +1: higher is better, -1: lower is better
    secondary_metrics: tuple[str, ...]

    @property
    def csv_task_name(self) -> str:
        return CSV_TASK_NAME[self.type]


def _clinical_groups() -> dict[str, str]:
    """Task id -> clinical group, from the explicit lists of ``conf/grouping/clinical.yaml``."""
    raw = OmegaConf.to_container(OmegaConf.load(CLINICAL_YAML), resolve=True)
    if raw.get("by") is not None or not raw.get("groups"):
        raise ValueError(f"{CLINICAL_YAML}: the clinical groups must be listed explicitly (by: null, groups: ...)")
    out: dict[str, str] = {}
    for group, ids in raw["groups"].items():
        for t in ids:
            if t in out:
                raise ValueError(f"{CLINICAL_YAML}: task {t!r} is in both {out[t]!r} and {group!r}")
            out[str(t)] = str(group)
    return out


@lru_cache(maxsize=1)
def _load() -> tuple[tuple[Task, ...], dict]:
    raw = OmegaConf.to_container(OmegaConf.load(TASKS_YAML), resolve=True)
    groups = _clinical_groups()
    tasks = []
    for rec in raw["tasks"]:
        if rec["type"] not in TASK_TYPES:
            raise ValueError(f"{TASKS_YAML}: task {rec['id']!r} has unknown type {rec['type']!r}")
        if "group" in rec:
            raise ValueError(f"{TASKS_YAML}: task {rec['id']!r} sets a group; groups are defined in {CLINICAL_YAML}")
        if rec["id"] not in groups:
            raise ValueError(f"{CLINICAL_YAML}: task {rec['id']!r} is in no clinical group")
        m = raw["metrics"][rec["type"]]
        tasks.append(Task(group=groups[rec["id"]], primary_metric=m["primary"], direction=int(m["direction"]),
                          secondary_metrics=tuple(m["secondary"]), **rec))
    ids = [t.id for t in tasks]
    dup = [i for i, c in Counter(ids).items() if c > 1]
    if dup:
        raise ValueError(f"{TASKS_YAML}: duplicate task ids {dup}")
    unknown = sorted(set(groups) - set(ids))
    if unknown:
        raise ValueError(f"{CLINICAL_YAML}: unknown task ids {unknown}")
    return tuple(tasks), raw["study_totals"]


def all_tasks() -> tuple[Task, ...]:
    """All 27 tasks, in registry order (segmentation, classification, detection, regression)."""
    return _load()[0]


def study_totals() -> dict:
    """The study's published training-set totals [S] per type and per group."""
    return _load()[1]


def get_task(task_id: str) -> Task:
    """The record of one task; a clear error for an unknown id."""
    for t in all_tasks():
        if t.id == task_id:
            return t
    raise KeyError(f"unknown task id {task_id!r}; known ids: {', '.join(t.id for t in all_tasks())}")


def task_ids() -> list[str]:
    return [t.id for t in all_tasks()]


def as_frame() -> pd.DataFrame:
    """The registry as a table, one row per task."""
    rows = [{"task": t.id, "type": t.type, "classes": t.num_classes, "organ": t.organ, "group": t.group,
             "probe": t.probe, "n_train": t.n_train, "primary": t.primary_metric,
             "better": "higher" if t.direction > 0 else "lower", "secondary": ", ".join(t.secondary_metrics)}
            for t in all_tasks()]
    return pd.DataFrame(rows)


def check_totals() -> list[str]:
    """Differences between our per-task counts and the study's totals; empty when they agree."""
    df, totals, problems = as_frame(), study_totals(), []
    for key, col in (("by_type", "type"), ("by_group", "group")):
        sums = df.groupby(col)["n_train"].sum()
        for name, want in totals[key].items():
            got = int(sums.get(name, 0))
            if got != want:
                problems.append(f"{col} {name}: registry sums to {got}, the study reports {want}")
    return problems
