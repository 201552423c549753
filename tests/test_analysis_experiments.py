"""Experiment plans and analysis settings (no training here)."""
import pytest

from m2dino.analysis.experiments import data_scale_plan, expected_run_dirs, side_plan
from m2dino.analysis.settings import settings
from m2dino.config import load


def test_settings_per_profile_fall_back_to_default():
    assert settings("smoke").n_boot < settings("demo").n_boot
    assert list(settings("paper").data_scale_fractions) == [0.1, 0.25, 0.5]  # paper takes the defaults
    assert list(settings("demo").data_scale_fractions) == [0.25, 0.5]
    assert settings("paper").baseline_encoder is None and settings("demo").baseline_encoder == "efficientnet-b0"


def test_data_scale_plan_trains_each_group_at_each_fraction_and_shares_au():
    pytest.importorskip("m2dino.train", reason="the trainer (issue 6) defines the 'experiment' config key")
    plan = data_scale_plan([0.25, 0.5, 1.0], ["obstetrics", "breast"], profile="smoke")
    assert len(plan) == 2 * (2 * 2 + 1)  # fractions < 1 only; TS + CG per group, one AU per fraction
    assert ["paradigm=all"] == [o for o in plan[4] if not o.startswith(("experiment", "data.", "train."))]
    ts = [p for p in plan if "paradigm=single" in p and "experiment=data_scale/frac0.25" in p]
    assert any("tasks=[breast_lesion,breast_2cls,breast_3cls]" in p for p in ts)
    cfg = load(["profile=smoke", *[o for o in plan[0]], "seed=0"])
    dirs = expected_run_dirs(cfg)
    assert all(d.parts[-5:-3] == ("data_scale", "frac0.25") and d.parts[-3] == "single" for d in dirs)
    assert len(dirs) == 12  # the 12 obstetrics tasks
    assert ["experiment=ablation_dense", "paradigm=all", "model.moe.enabled=false"] in side_plan()
    assert "model.encoder=efficientnet-b0" in side_plan(baseline_encoder="efficientnet-b0")[1]


def test_cheap_variants_restrict_tasks():
    plan = data_scale_plan([0.5], ["breast"], au_tasks="groups", profile="smoke")
    assert plan[-1][-1] == "tasks=[breast_lesion,breast_2cls,breast_3cls]" and "paradigm=all" in plan[-1]
    assert all(p[-1] == "tasks=[FUGC]" for p in side_plan(["FUGC"]))
    none = data_scale_plan([0.25, 0.5], ["breast"], au_tasks="none", profile="smoke")
    assert len(none) == 4 and not any("paradigm=all" in p for p in none)  # TS and CG at each fraction, no AU
    with pytest.raises(ValueError, match="au_tasks"):
        data_scale_plan([0.5], ["breast"], au_tasks="some", profile="smoke")


def test_data_scale_runs_keep_the_full_data_optimiser_steps():
    # a quarter of the data for four times the epochs: the same number of optimiser steps, validated at the same steps
    demo = load(["profile=demo"]).train
    plan = data_scale_plan([0.25, 0.5], ["breast"], profile="demo")
    for f, k in ((0.25, 4), (0.5, 2)):
        runs = [p for p in plan if f"data.fraction={f:g}" in p]
        assert runs and all(f"train.epochs={demo.epochs * k}" in p and f"train.eval_every={demo.eval_every * k}" in p
                            for p in runs)
    cfg = load(["profile=demo", *plan[0], "seed=0"])
    assert cfg.train.epochs == demo.epochs * 4 and cfg.data.fraction == 0.25
