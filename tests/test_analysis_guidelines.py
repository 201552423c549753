"""The study's numbers as data, data scale from config, and the derived guideline on fabricated changes."""
import numpy as np
import pandas as pd
import pytest

from m2dino.analysis.change import relative_change
from m2dino.analysis.guidelines import add_group_scale, derive_guideline, scale_groups
from m2dino.analysis.study import CLAIMS, numbers_frame
from m2dino.registry import all_tasks

RICH = {"obstetrics"}  # conf/analysis.yaml: the groups the study names data-rich and data-scarce [S]
SCARCE = {"breast"}


def test_study_numbers_are_graded_and_consistent():
    df = numbers_frame()
    assert set(df["grade"]) <= {"A", "C", "S"} and (df["source"] == "study [" + df["grade"] + "]").all()
    dice = df[df["what"] == "breast_lesion Dice"].set_index("paradigm")["value"]
    pct = df[df["what"] == "breast_lesion change vs TS"].set_index("paradigm")["value"]
    for p in ("clinical", "all"):  # the reported percentages follow from the reported Dice values
        assert relative_change("breast_lesion", dice["single"], dice[p]) == pytest.approx(pct[p], abs=0.1)
    assert {c.key for c in CLAIMS} >= {"cg_scarce_negative", "segmentation_drops_most"}


def _fabricated(cg_scarce: float, cg_rich: float, au: float, seg: float, noise: float, seed: int | None = 0):
    """Per-task changes; ``seed=None`` makes the noise alternate ±noise by task (a null whose mean is ~0)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i, t in enumerate(all_tasks()):
        for p in ("clinical", "all"):
            c = (cg_rich if t.group in RICH else cg_scarce) if p == "clinical" else au
            e = (-1) ** i if seed is None else rng.standard_normal()
            c += seg * (t.type == "segmentation") + noise * e
            rows.append(dict(experiment="main", paradigm=p, comparison=f"{p} vs TS", task=t.id, type=t.type,
                             group=t.group, n_train=max(8, t.n_train // 100), change=c, ci_low=c - 1, ci_high=c + 1))
    return pd.DataFrame(rows)


def test_data_scale_is_a_property_of_the_group_set_in_config():
    rich, scarce = scale_groups("demo")
    assert set(rich) == RICH and set(scarce) == SCARCE
    c = add_group_scale(_fabricated(0, 0, 0, 0, 0), rich, scarce)
    scale = c.drop_duplicates("group").set_index("group")["scale"]
    assert scale["obstetrics"] == "data-rich" and scale["breast"] == "data-scarce"
    assert scale["thyroid"] == "unrated"  # not the median of our own counts: a group the study does not rate


def test_derived_guideline_picks_the_best_paradigm_per_cell():
    g = derive_guideline(_fabricated(-30, 5, 2, 0, 0.5), RICH, SCARCE, n_boot=300).set_index(["scale", "type"])
    assert g.loc[("data-scarce", "segmentation"), "recommended"] == "all-task (AU)"
    assert g.loc[("data-rich", "classification"), "recommended"] == "clinical-group (CG)"
    assert g.loc[("data-rich", "classification"), "evidence"] == "clear"
    g2 = derive_guideline(_fabricated(-30, -30, -20, 0, 0.5), RICH, SCARCE, n_boot=300).set_index(["scale", "type"])
    assert (g2["recommended"] == "single (TS)").all()
