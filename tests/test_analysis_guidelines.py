"""The study's numbers as data, and the derived guideline's verdicts on fabricated changes."""
import numpy as np
import pandas as pd
import pytest

from m2dino.analysis.change import relative_change
from m2dino.analysis.guidelines import add_group_scale, compare_with_study, derive_guideline
from m2dino.analysis.study import CLAIMS, numbers_frame
from m2dino.registry import all_tasks

RICH = {"obstetrics", "lung", "abdomen", "thyroid"}  # group totals >= the median of the 7 multi-task groups


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


def test_group_scale_split_at_the_median_group_total():
    c, thr = add_group_scale(_fabricated(0, 0, 0, 0, 0))
    scale = c.drop_duplicates("group").set_index("group")["scale"]
    assert {g for g, s in scale.items() if s == "data-rich"} == RICH
    assert thr == pytest.approx(45.0)


def test_verdicts_agree_with_a_study_like_pattern():
    v = compare_with_study(_fabricated(-30, 15, 2, -10, 1.0), "fixture", n_boot=300).set_index("claim")["verdict"]
    for k in ("cg_scarce_negative", "au_over_cg_scarce", "cg_rich_gain", "au_consistent", "segmentation_drops_most"):
        assert v[k] == "agree", k


def test_verdicts_disagree_or_stay_unsupported_instead_of_forcing_a_match():
    v = compare_with_study(_fabricated(20, -20, 0, 0, 1.0), "fixture", n_boot=300).set_index("claim")
    assert v.loc["cg_scarce_negative", "verdict"] == "disagree"
    assert v.loc["cg_rich_gain", "verdict"] == "disagree"
    assert "synthetic" in v.loc["cg_rich_gain", "reason"]
    null = compare_with_study(_fabricated(0, 0, 0, 0, 5.0, seed=None), "fixture", n_boot=300).set_index("claim")
    assert null.loc["cg_scarce_negative", "verdict"] == "not supported"
    assert null.loc["cg_rich_gain", "verdict"] == "not supported"


def test_derived_guideline_picks_the_best_paradigm_per_cell():
    g = derive_guideline(_fabricated(-30, 5, 2, 0, 0.5), n_boot=300).set_index(["scale", "type"])
    assert g.loc[("data-scarce", "segmentation"), "recommended"] == "all-task (AU)"
    assert g.loc[("data-rich", "classification"), "recommended"] == "clinical-group (CG)"
    assert g.loc[("data-rich", "classification"), "evidence"] == "clear"
    g2 = derive_guideline(_fabricated(-30, -30, -20, 0, 0.5), n_boot=300).set_index(["scale", "type"])
    assert (g2["recommended"] == "single (TS)").all()


def test_two_tasks_give_no_verdict_however_large_the_effect():
    ch = _fabricated(-30, 15, 2, 0, 1.0)
    keep = ch["group"].isin(RICH) | ch["task"].isin(["breast_lesion", "breast_2cls"])
    v = compare_with_study(ch[keep], "fixture", threshold=45, n_boot=200).set_index("claim")
    assert v.loc["cg_scarce_negative", "verdict"] == "not supported"
    assert "too few for a verdict" in v.loc["cg_scarce_negative", "reason"]
    assert v.loc["cg_rich_gain", "verdict"] == "agree"
