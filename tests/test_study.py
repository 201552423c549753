"""The study layer: plans, analysis settings, the pool of what is not finished, and what is current (no training)."""
import pytest

from m2dino.study.plans import data_scale_plan, side_plan
from m2dino.study.schedule import expected_run_dirs
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


def test_side_runs_take_the_profiles_side_seeds_and_the_baseline_is_an_opt_in_at_demo():
    from m2dino.study.plans import baseline_command, side_runs, study_plans

    plan, seeds = side_runs("demo")
    assert seeds == [0] and not any("model=fmc_baseline" in p for p in plan)  # opt-in: no verdict reads it
    plan, _ = side_runs("demo", baseline=True)
    assert "model=fmc_baseline" in plan[1] and "model.encoder=efficientnet-b0" in plan[1]
    assert any("model=fmc_baseline" in p for p in side_runs("paper")[0])  # the paper profile trains it
    assert side_runs("paper")[1] is None  # the profile's seeds
    assert not any("model=fmc_baseline" in p for plan, _ in study_plans("smoke") for p in plan)
    cmd = baseline_command("demo")
    assert cmd == ("python -m m2dino train profile=demo experiment=fmc_baseline paradigm=all model=fmc_baseline "
                   "model.encoder=efficientnet-b0 seed=0")
    cfg = load(["profile=demo", *cmd.split(" train ")[1].split()])
    assert cfg.model.name == "fmc_baseline" and cfg.experiment == "fmc_baseline"
    assert list(settings("demo").affinity_group_seeds) == [0] and settings("paper").affinity_group_seeds is None


def test_ensure_plans_puts_every_plan_in_one_pool_baseline_first(monkeypatch, tmp_path):
    pytest.importorskip("m2dino.train", reason="the trainer defines the 'experiment' config key")
    import m2dino.synth.source as source
    import m2dino.train.paradigms as paradigms
    from m2dino.study.plans import main_plan, side_runs
    from m2dino.study.schedule import ensure_plans

    calls = []
    monkeypatch.setattr(source, "ensure_data", lambda cfg: None)
    monkeypatch.setattr(paradigms, "run_configs", lambda cfgs, progress=False: calls.append(list(cfgs)))
    extra = [f"results_dir={tmp_path}"]
    with pytest.raises(RuntimeError, match="did not finish"):  # nothing trained: the stub only records
        ensure_plans("smoke", [(main_plan(), None), side_runs("smoke", baseline=True)], extra=extra)
    assert len(calls) == 1  # one pool for both plans
    pool = calls[0]
    seeds = load(["profile=smoke"]).plan.seeds
    assert len(pool) == 3 * len(seeds) + 2  # TS, CG, AU per profile seed; ablation and baseline on side_seeds
    assert pool[0].model.name == "fmc_baseline"  # the slowest unit first
    assert [c.paradigm.name for c in pool[1:]] == sorted((c.paradigm.name for c in pool[1:]),
                                                         key=["all", "clinical", "single"].index)


def test_the_aa_seeds_outside_the_profiles_seeds_are_trained(monkeypatch, tmp_path):
    pytest.importorskip("m2dino.train", reason="the trainer defines the 'experiment' config key")
    import m2dino.synth.source as source
    import m2dino.train.paradigms as paradigms
    from m2dino.study.plans import aa_runs
    from m2dino.study.schedule import ensure_plans

    plan, seeds = aa_runs("smoke")
    assert seeds == [1, 2, 3] and "tasks=[" in plan[0][1]  # seed 0 is the profile's: 4 TS seeds on a few tasks
    assert aa_runs("paper") == ([], [])
    calls = []
    monkeypatch.setattr(source, "ensure_data", lambda cfg: None)
    monkeypatch.setattr(paradigms, "run_configs", lambda cfgs, progress=False: calls.append(list(cfgs)))
    with pytest.raises(RuntimeError, match="did not finish"):
        ensure_plans("smoke", [aa_runs("smoke")], extra=[f"results_dir={tmp_path}"])
    assert sorted(int(c.seed) for c in calls[0]) == [1, 2, 3]  # each one to train (was: none, seeds not in plan)


def test_groupings_are_compared_on_the_seeds_both_trained(monkeypatch):
    import pandas as pd

    import m2dino.analysis.change as change
    from m2dino.analysis.affinity import compare_groupings

    import numpy as np

    from m2dino.analysis.inference import Effects, Row

    seen = []

    def fake(tidy, ref, new, bootstrap=True, reader=None):
        seen.append(sorted(set(tidy["seed"])))
        pts = pd.DataFrame({"task": ["a", "b"], "change": [1.0, -1.0], "p_holm": [0.5, 0.5]})
        return Effects(pts, [Row((0,), np.array([v]), v + np.linspace(-1, 1, 8)[None, :], t)
                             for t, v in zip(pts["task"], pts["change"])], "change")

    monkeypatch.setattr(change, "compare", fake)
    rows = [{"experiment": e, "paradigm": p, "seed": s}
            for e, p, seeds in (("main", "single", [0, 1, 2]), ("main", "clinical", [0, 1, 2]),
                                ("affinity_groups/x", "clinical", [0])) for s in seeds]
    _, summary = compare_groupings(pd.DataFrame(rows), {"clinical": "main", "affinity": "affinity_groups/x"},
                                   n_boot=10)
    assert seen == [[0], [0]] and list(summary["seeds"]) == ["0", "0"]


def test_a_stale_run_is_retrained_by_the_plans_and_never_offered_for_reading(monkeypatch, tmp_path, capsys):
    """The bug of issue 26: a run finished under an old train.epochs was skipped (it had a DONE) and then read."""
    import m2dino.synth.source as source
    import m2dino.train.paradigms as paradigms
    from m2dino import runs
    from m2dino.study.schedule import current, ensure_plans, planned
    from m2dino.analysis.tidy import NoResultsError, tidy_results

    calls = []
    monkeypatch.setattr(source, "ensure_data", lambda cfg: None)
    monkeypatch.setattr(paradigms, "run_configs", lambda cfgs, progress=False: calls.append(list(cfgs)))
    plan, extra = [([["paradigm=all"]], None)], [f"results_dir={tmp_path}"]
    (p,) = planned("smoke", plan, extra)
    for u, d in p.paths().items():  # finished under today's config
        rc = runs.run_config(p.cfg, u, p.units[u])
        runs.start(d, rc)
        runs.mark_done(d, rc)
    assert ensure_plans("smoke", plan, extra) == list(p.paths().values()) and calls == []
    assert current("smoke", extra, plan)["state"].tolist() == [runs.FINISHED]
    epochs = int(p.cfg.train.epochs)
    changed = [*extra, f"train.epochs={epochs + 1}"]  # as if the profile's YAML had changed
    with pytest.raises(RuntimeError, match="did not finish"):  # the stub trains nothing
        ensure_plans("smoke", plan, changed)
    assert len(calls) == 1 and [c.train.epochs for c in calls[0]] == [epochs + 1]  # in the pool, not skipped
    assert f"train.epochs: {epochs} -> {epochs + 1}" in capsys.readouterr().out
    table = current("smoke", changed, plan)
    assert table["state"].tolist() == [runs.STALE] and f"train.epochs: {epochs} -> {epochs + 1}" in table["why"][0]
    with pytest.raises(NoResultsError):
        tidy_results(tmp_path / "smoke", table)  # not read
    everything = current("smoke", extra)  # every plan of the profile: the rest is planned, not started
    assert set(everything["state"]) == {runs.FINISHED, runs.PLANNED}
    assert {"main", "ablation_dense", "fmc_baseline"} <= set(everything["experiment"])


def test_training_the_baseline_experiment_without_the_baseline_model_is_refused(capsys):
    from m2dino.commands.train import main

    assert main(["profile=smoke", "experiment=fmc_baseline", "paradigm=all"]) == 2
    assert "add model=fmc_baseline" in capsys.readouterr().err
