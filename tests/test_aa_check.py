"""The A/A check (m2dino.analysis.aa_check): TS seeds split in two arms and put through the verdict machinery as a
paradigm, on simulated runs in memory and, once, in run folders on disk through the report's path."""
import numpy as np
import pandas as pd

from m2dino.analysis.aa_check import AA_PROTOCOL, aa_check, aa_tidy, arms, summary
from m2dino.analysis.simulate import PROFILE, Design, Regime, simulate
from m2dino.analysis.tables import headroom_tables
from m2dino.analysis.tidy import tidy_results
from m2dino.analysis.verdicts import claim_deltas

TASKS = ("breast_lesion", "breast_2cls", "FUGC", "fetal_head")
NOISY = Regime("noisy", 0.03, 0.05, 0.08)


def test_arms_split_sorted_seeds_in_halves_of_equal_size():
    assert arms([3, 0, 2, 1]) == ([0, 1], [2, 3])
    assert arms([0, 1, 2, 3, 4, 5, 6]) == ([0, 1, 2], [3, 4, 5])  # an odd seed out


def test_aa_check_flags_tasks_and_claims_of_ts_against_ts():
    sim = simulate(Design.study(4, 40, None, TASKS, ("single",)), NOISY, seed=11)
    aa = aa_check(sim.tidy, ["obstetrics"], ["breast"], claim_deltas("default"), None, sim.reader)
    tasks, claims = aa[aa["level"] == "task"], aa[aa["level"] == "claim"]
    assert sorted(tasks["name"]) == sorted(TASKS) and set(tasks["arm_a_seeds"]) == {"0 1"}
    assert set(tasks["arm_b_seeds"]) == {"2 3"}
    assert list(claims["name"]) == [p.key for p in AA_PROTOCOL]
    assert tasks["p"].between(0, 1).all() and (tasks["p_holm"] >= tasks["p"]).all()
    assert (tasks["flagged"] == (tasks["p"] < 0.05)).all() and aa["flagged"].dtype == bool
    assert "A/A check" in summary(aa) and f"of {len(TASKS)} tasks" in summary(aa)


def test_aa_check_needs_four_ts_seeds_and_uses_the_tasks_that_have_them():
    three = simulate(Design.study(3, 20, None, TASKS, ("single",)), NOISY, seed=1)
    assert aa_tidy(three.tidy) is None
    assert aa_check(three.tidy, [], ["breast"], claim_deltas("default"), reader=three.reader).empty
    assert "not run" in summary(pd.DataFrame())
    # extra TS seeds on two tasks only (aa_tasks): the check covers those two
    four = simulate(Design.study(4, 20, None, TASKS[:2], ("single",)), NOISY, seed=2)
    one = simulate(Design.study(1, 20, None, TASKS[2:], ("single",)), NOISY, seed=3)
    tidy = pd.concat([four.tidy, one.tidy], ignore_index=True)
    sub, a, b = aa_tidy(tidy)
    assert sorted(set(sub["task"])) == sorted(TASKS[:2]) and (a, b) == ([0, 1], [2, 3])
    assert set(sub["paradigm"]) == {"single", "clinical", "trivial"} and set(sub["seed"]) == {0, 1}


def test_the_report_writes_aa_check_from_run_folders(tmp_path):
    sim = simulate(Design.study(4, 24, None, TASKS, ("single", "clinical")), NOISY, seed=5)
    root = sim.write(tmp_path / PROFILE)
    tables = headroom_tables(tidy_results(root), n_boot=30, profile="smoke")
    aa = tables["aa_check"]
    assert len(aa[aa["level"] == "task"]) == len(TASKS) and np.isfinite(aa["estimate"]).all()
    assert {"verdicts", "verdict_sensitivity"} <= set(tables) and "au_consistency" not in tables  # no AU runs
