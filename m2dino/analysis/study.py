"""What the study reports, as data, each number with its source grade (docs/study.md):
[A] the abstract (reliable), [C] the FMC_UIA challenge baseline (reliable), [S] a second-hand summary of the full paper
(plausible, unverified — shown as such). Nothing here is computed; the tests check the numbers' internal consistency.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

GRADES = {"A": "the paper's abstract", "C": "the FMC_UIA challenge baseline",
          "S": "second-hand summary of the full paper (unverified)"}


@dataclass(frozen=True)
class StudyNumber:
    """One number the study reports."""

    what: str        # e.g. "breast_lesion Dice", "group change vs TS"
    task: str | None  # registry task id, when the number is about one task
    group: str | None  # clinical group, when it is about a group
    paradigm: str    # single, clinical or all (TS, CG, AU)
    value: float
    unit: str        # "dice", "percent", "not stated", "pixels"
    grade: str       # A, C or S

    @property
    def label(self) -> str:
        return f"study [{self.grade}]"


NUMBERS: tuple[StudyNumber, ...] = (
    StudyNumber("breast_lesion Dice", "breast_lesion", "breast", "single", 0.713, "dice", "S"),
    StudyNumber("breast_lesion Dice", "breast_lesion", "breast", "clinical", 0.145, "dice", "S"),
    StudyNumber("breast_lesion Dice", "breast_lesion", "breast", "all", 0.692, "dice", "S"),
    StudyNumber("breast_lesion change vs TS", "breast_lesion", "breast", "clinical", -79.7, "percent", "S"),
    StudyNumber("breast_lesion change vs TS", "breast_lesion", "breast", "all", -3.0, "percent", "S"),
    StudyNumber("group change vs TS", None, "obstetrics", "all", 3.76, "not stated", "S"),
    StudyNumber("group change vs TS", None, "obstetrics", "clinical", 2.93, "not stated", "S"),
    StudyNumber("group change vs TS", None, "breast", "all", -0.02, "not stated", "S"),
    StudyNumber("group change vs TS", None, "breast", "clinical", -0.29, "not stated", "S"),
    StudyNumber("group change vs TS", None, "lung", "all", 0.07, "not stated", "S"),
    StudyNumber("group change vs TS", None, "lung", "clinical", -0.07, "not stated", "S"),
    # "cervical regression MRE 30.4 to 15.6 under AU": the task is not named; FUGC is our cervix regression task.
    StudyNumber("cervical regression MRE (task not named; FUGC is ours)", "FUGC", "obstetrics", "single", 30.4,
                "pixels", "S"),
    StudyNumber("cervical regression MRE (task not named; FUGC is ours)", "FUGC", "obstetrics", "all", 15.6,
                "pixels", "S"),
)

# Training-set sizes the study reports [S] (also in conf/tasks.yaml, checked by the registry).
GROUP_TRAIN_IMAGES = {"obstetrics": 11910, "breast": 2920}
DATA_RICH_GROUPS = ("obstetrics",)   # named data-rich by the study [S]
DATA_SCARCE_GROUPS = ("breast",)     # named data-scarce by the study [S]


@dataclass(frozen=True)
class StudyClaim:
    """A qualitative finding or guideline of the study; its declared test is in m2dino.analysis.verdicts.PROTOCOL."""

    key: str
    text: str
    grade: str


CLAIMS: tuple[StudyClaim, ...] = (
    StudyClaim("scale_dependence", "Aggregation effectiveness depends strongly on training-data scale.", "A"),
    StudyClaim("cg_scarce_negative", "CG can cause substantial negative transfer in low-data groups.", "A"),
    StudyClaim("au_over_cg_scarce", "In data-scarce groups, prefer AU (over CG).", "S"),
    StudyClaim("cg_rich_gain", "CG can help in data-rich groups.", "A"),
    StudyClaim("au_consistent", "AU is more consistent across groups.", "A"),
    StudyClaim("segmentation_drops_most", "Segmentation drops most, more than regression and classification.", "A"),
)


def numbers_frame() -> pd.DataFrame:
    """The study's numbers as a table, with a ``source`` column like ``study [S]``."""
    rows = [{**n.__dict__, "source": n.label} for n in NUMBERS]
    return pd.DataFrame(rows)


def side_by_side(changes: pd.DataFrame, group_table: pd.DataFrame, ours_label: str) -> pd.DataFrame:
    """Each study number next to ours for the same quantity (main experiment, seed-averaged).

    ``changes``: per-task changes against TS (``m2dino.analysis.change.task_changes``); ``group_table``: their
    per-group aggregate (``aggregate(changes, "group")``). Our group value is the mean per-task change in percent;
    the study's group values have no stated unit, so only signs and ordering are comparable.
    """
    from m2dino.analysis.change import PARADIGM_LABEL

    rows = []
    for n in NUMBERS:
        ours, unit = float("nan"), ""
        if n.what == "group change vs TS":
            g = group_table[(group_table["group"] == n.group)
                            & (group_table["comparison"] == f"{PARADIGM_LABEL[n.paradigm]} vs TS")]
            ours, unit = (float(g["mean_change"].iloc[0]), "percent (mean over tasks)") if len(g) else (ours, "")
        elif n.task is not None:
            if n.paradigm == "single":
                c = changes[changes["task"] == n.task]
                col = "ref_value"
            else:
                c = changes[(changes["task"] == n.task) & (changes["paradigm"] == n.paradigm)]
                col = "change" if n.unit == "percent" else "new_value"
            if len(c):
                ours = float(c[col].iloc[0])
                unit = "percent" if col == "change" else str(c["metric"].iloc[0])
        rows.append({"what": n.what, "task": n.task, "group": n.group,
                     "paradigm": n.paradigm, "paradigm_label": PARADIGM_LABEL[n.paradigm], "study": n.value,
                     "study_unit": n.unit, "study_source": n.label, "ours": ours, "ours_unit": unit,
                     "ours_source": ours_label})
    return pd.DataFrame(rows)
