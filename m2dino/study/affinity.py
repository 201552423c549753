"""CG on the groups found from task affinity (notebook 10): cluster the all-task run's affinity into as many groups
as the clinical grouping has, write them as a grouping file, train CG on them where it is not finished, and give
back the runs table the analysis then reads."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from m2dino.analysis import affinity as A
from m2dino.grouping import load_grouping, resolve_groups
from m2dino.study.plans import affinity_grouping_file, affinity_groups_runs
from m2dino.study.schedule import current, ensure_plans


@dataclass(frozen=True)
class AffinityGroups:
    """The groups found from affinity, the clinical groups they are compared with, where the grouping was written,
    the experiment CG on it trains as, and the runs table after training."""

    groups: dict[str, list[str]]
    clinical: dict[str, list[str]]
    grouping_file: Path
    experiment: str
    runs: pd.DataFrame


def affinity_groups(profile: str, matrix: pd.DataFrame, label: str, estimator: str, train: bool = True,
                    extra: Sequence[str] = ()) -> AffinityGroups:
    """Groups from ``matrix`` (:func:`m2dino.analysis.affinity.data_groups`), written to
    ``results/<profile>/groupings/affinity.yaml`` (``label``: the provenance it is found from), and CG trained on them
    (``train``; on the seeds of ``affinity_group_seeds``) as ``experiment=affinity_groups/<hash>``."""
    clinical = resolve_groups(load_grouping("clinical"))
    groups = A.data_groups(matrix, len(clinical))
    path = A.write_data_grouping(groups, affinity_grouping_file(profile, extra).parents[1], estimator, label)
    if train:
        ensure_plans(profile, [affinity_groups_runs(profile, path)], extra)
    return AffinityGroups(groups, clinical, path, A.groups_experiment(groups), current(profile, extra, quiet=True))
