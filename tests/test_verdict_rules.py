"""The verdict rules: five outcomes, and for every claim a world in which it says "agree" and one in which it says
"disagree" (plus "equivalent" at no effect), each simulated with a known truth (m2dino.analysis.simulate) and put
through the analysis from the tidy table on. Holm families are checked against statsmodels."""
import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests

from m2dino.analysis.simulate import Design, Regime, simulate
from m2dino.analysis.tables import headroom_evidence
from m2dino.analysis.verdicts import (PROTOCOL, VERDICTS, VERDICTS_COLUMNS, claim_deltas, existential_verdict,
                                      judgements, sensitivity_table, verdict, verdict_table)

QUIET = Regime("quiet", seed_sd=0.01, image_sd=0.02, resid_sd=0.02)  # small noise: each world's verdict is sure
TINY = Regime("tiny", seed_sd=0.002, image_sd=0.004, resid_sd=0.004)  # for "equivalent": intervals inside δ
BREAST = ("breast_lesion", "breast_2cls", "breast_3cls")
OBSTETRICS = ("FUGC", "fetal_head")
RICH, SCARCE = ["obstetrics"], ["breast"]
DELTAS = claim_deltas("default")


def world(effects, tasks=BREAST + OBSTETRICS, data_scale=False, seed=0, regime=QUIET, n=30):
    design = Design.study(3, n, {f: tasks for f in (0.25, 0.5)} if data_scale else None, tasks)
    sim = simulate(design, regime, effects, seed=seed)
    ev, beats = headroom_evidence(sim.tidy, n_boot=50, reader=sim.reader)
    return verdict_table(ev.get("main"), ev.get("data_scale"), RICH, SCARCE, beats, deltas=DELTAS).set_index("claim")


def test_verdict_takes_each_of_the_five_values_in_order():
    assert verdict(0.02, 0.10, +1, 0.05) == "agree"               # beyond 0 and reaching past δ
    assert verdict(0.01, 0.04, +1, 0.05) == "agree_below_delta"   # real but inside ±δ
    assert verdict(-0.10, -0.02, +1, 0.05) == "disagree"
    assert verdict(-0.10, -0.02, -1, 0.05) == "agree"              # the study's direction is down
    assert verdict(-0.03, 0.04, +1, 0.05) == "equivalent"
    assert verdict(-0.03, 0.09, +1, 0.05) == "inconclusive"
    assert verdict(np.nan, np.nan, +1, 0.05) == "inconclusive"
    assert verdict(0.0, 0.04, +1, 0.05) == "equivalent"  # a bound at 0 does not exclude 0
    with pytest.raises(ValueError):
        verdict(0.1, 0.2, 0, 0.05)  # every claim has a direction now
    assert VERDICTS == ("agree", "agree_below_delta", "disagree", "equivalent", "inconclusive")


def test_existential_rule_reaches_every_outcome():
    # direction -1 ("can cause negative transfer"), δ 0.1; intervals per task
    assert existential_verdict([-0.3, -0.05], [-0.2, 0.05], -1, 0.1) == "agree"
    assert existential_verdict([-0.08, -0.05], [-0.01, 0.05], -1, 0.1) == "agree_below_delta"
    assert existential_verdict([0.1, -0.05], [0.3, 0.05], -1, 0.1) == "disagree"  # none can reach -δ, one is above 0
    assert existential_verdict([-0.05, -0.04], [0.05, 0.06], -1, 0.1) == "equivalent"
    assert existential_verdict([-0.3, -0.04], [0.05, 0.06], -1, 0.1) == "inconclusive"


def test_delta_is_per_claim_with_a_reason():
    assert set(DELTAS) == {p.key for p in PROTOCOL}
    assert len({d for d, _ in DELTAS.values()}) > 1 and all(len(r) > 30 for _, r in DELTAS.values())
    assert max(d for d, _ in DELTAS.values()) < 0.5


def test_scale_dependence_is_tested_per_direction_and_fails_both_ways():
    centre = np.mean(np.log2([0.25, 0.5]))

    def slopes(rich_slope, scarce_slope):
        def eff(exp, par, task):
            if "frac" not in exp or par != "clinical":
                return 0.0
            f = float(exp.split("frac")[1])
            s = rich_slope if task in OBSTETRICS else scarce_slope
            return s * (np.log2(f) - centre)
        return eff

    # the study's pattern: rich groups gain, scarce groups lose as the data grow; averaged, the slopes would cancel
    study = world(slopes(0.15, -0.15), data_scale=True)
    assert study.loc["scale_dependence_rich", "verdict"] == "agree"
    assert study.loc["scale_dependence_scarce", "verdict"] == "agree"
    assert study.loc["scale_dependence_rich", "experiment"] == "data_scale"
    other = world(slopes(-0.15, 0.15), data_scale=True, seed=1)
    assert other.loc["scale_dependence_rich", "verdict"] == "disagree"
    assert other.loc["scale_dependence_scarce", "verdict"] == "disagree"
    # at no effect each slope says "equivalent" except with probability about α (calibrated in test_calibration);
    # the draw is deterministic (simulate orders its seed units), and seed 3 is a typical one
    flat = world(slopes(0.0, 0.0), data_scale=True, seed=3, regime=TINY, n=120)
    assert set(flat.loc[["scale_dependence_rich", "scale_dependence_scarce"], "verdict"]) == {"equivalent"}


def test_cg_scarce_negative_fails_both_ways():
    def cg(values):
        return lambda exp, par, task: values.get(task, 0.0) if par == "clinical" else 0.0

    assert world(cg({"breast_lesion": -0.3})).loc["cg_scarce_negative", "verdict"] == "agree"
    assert world(cg(dict.fromkeys(BREAST, 0.3)), seed=1).loc["cg_scarce_negative", "verdict"] == "disagree"
    assert world(cg({}), seed=2, regime=TINY, n=120).loc["cg_scarce_negative", "verdict"] == "equivalent"


def test_cg_rich_gain_fails_both_ways():
    def cg(values):
        return lambda exp, par, task: values.get(task, 0.0) if par == "clinical" else 0.0

    assert world(cg({"FUGC": 0.2})).loc["cg_rich_gain", "verdict"] == "agree"
    assert world(cg(dict.fromkeys(OBSTETRICS, -0.2)), seed=1).loc["cg_rich_gain", "verdict"] == "disagree"


def test_au_over_cg_in_scarce_groups_fails_both_ways_and_can_be_real_but_negligible():
    def au(v):
        return lambda exp, par, task: v if par == "all" else 0.0

    assert world(au(0.2)).loc["au_over_cg_scarce", "verdict"] == "agree"
    assert world(au(-0.2), seed=1).loc["au_over_cg_scarce", "verdict"] == "disagree"
    small = world(au(0.03), seed=2, regime=TINY, n=120)  # a true AU − CG of 0.02 (breast_3cls, multi-class: 0)
    assert small.loc["au_over_cg_scarce", "verdict"] == "agree_below_delta"  # δ 0.05: real, but negligible


def test_segmentation_drops_most_needs_segmentation_below_zero():
    def by_type(seg, other):
        from m2dino.registry import get_task

        return lambda exp, par, task: seg if get_task(task).type == "segmentation" else other

    drops = world(by_type(-0.2, 0.0))
    assert set(drops.loc[["segmentation_drops_most_cg", "segmentation_drops_most_au"], "verdict"]) == {"agree"}
    rises = world(by_type(0.2, 0.0), seed=1)
    assert set(rises.loc[["segmentation_drops_most_cg", "segmentation_drops_most_au"], "verdict"]) == {"disagree"}
    # everything rises, segmentation least: the old rule (the others minus segmentation) said agree; nothing drops
    least = world(by_type(0.1, 0.3), seed=2)
    assert least.loc["segmentation_drops_most_cg", "verdict"] == "disagree"
    assert "segmentation below 0" in least.loc["segmentation_drops_most_cg", "reason"]


def test_holm_families_are_declared_and_match_statsmodels():
    design = Design.study(3, 30, {f: BREAST + OBSTETRICS for f in (0.25, 0.5)}, BREAST + OBSTETRICS)
    sim = simulate(design, Regime("noisy", 0.03, 0.1, 0.1), seed=7)
    ev, beats = headroom_evidence(sim.tidy, n_boot=50, reader=sim.reader)
    judged = [j for j, _ in judgements(ev["main"], ev["data_scale"], RICH, SCARCE, beats)]
    assert all(j.protocol.family for j in judged)
    for fam in {j.protocol.family for j in judged}:
        members = [j for j in judged if j.protocol.family == fam]
        p = np.concatenate([j.p for j in members])
        np.testing.assert_allclose(np.concatenate([j.p_holm for j in members]), multipletests(p, method="holm")[1])
        assert all(j.m == len(p) for j in members)
    sizes = {j.protocol.key: j.m for j in judged}
    assert sizes["cg_scarce_negative"] == 3 and sizes["scale_dependence_rich"] == 2
    assert sizes["segmentation_drops_most_cg"] == 6 and sizes["au_over_cg_scarce"] == 1


def test_verdicts_csv_columns_and_the_sensitivity_table():
    design = Design.study(3, 120, None, BREAST + OBSTETRICS)
    sim = simulate(design, TINY, lambda e, p, t: -0.06 if t == "breast_lesion" and p == "clinical" else 0.0, seed=3)
    ev, beats = headroom_evidence(sim.tidy, n_boot=50, reader=sim.reader)
    v = verdict_table(ev["main"], None, RICH, SCARCE, beats, deltas=DELTAS)
    assert set(VERDICTS_COLUMNS) <= set(v.columns) and {"delta", "delta_reason", "family", "df"} <= set(v.columns)
    assert set(v["verdict"]) <= set(VERDICTS) and v["delta"].nunique() > 1
    s = sensitivity_table(ev["main"], None, RICH, SCARCE, beats, DELTAS)
    assert list(s.columns) == ["claim", "delta_multiplier", "delta", "verdict"] and len(s) == 3 * len(PROTOCOL)
    row = s[s["claim"] == "cg_scarce_negative"].set_index("delta_multiplier")["verdict"]
    # breast_lesion drops by 0.06 under δ = 0.1: agree at δ/2 (it reaches beyond 0.05), only real-but-small at δ
    assert row[0.5] == "agree" and row[1.0] == "agree_below_delta"
    assert pd.api.types.is_float_dtype(s["delta"])
