"""Affinity analysis: groups found from a planted structure, written and read back as a grouping config (and used
by grouping=<path>), predicted transfer and its check against measured transfer."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from m2dino.analysis import affinity as A
from m2dino.config import load
from m2dino.grouping import load_grouping, paradigm_units, read_grouping_file, resolve_groups
from m2dino.registry import all_tasks

TASKS = [t.id for t in all_tasks()]


def _planted(groups: dict[str, list[str]], noise: float = 0.01, seed: int = 0) -> pd.DataFrame:
    """An asymmetric affinity matrix: +1 within a planted group, -0.5 across, plus noise."""
    rng = np.random.default_rng(seed)
    of = {t: g for g, ids in groups.items() for t in ids}
    z = np.array([[1.0 if of[i] == of[j] else -0.5 for j in TASKS] for i in TASKS])
    return pd.DataFrame(z + noise * rng.standard_normal(z.shape), index=TASKS, columns=TASKS)


def test_data_groups_recover_a_planted_grouping_and_round_trip_as_a_grouping_config(tmp_path):
    planted = resolve_groups(load_grouping("task_type"))
    k = len(resolve_groups(load_grouping("clinical")))
    # 8 planted groups: the 4 task types, the segmentation and classification ones split in two
    seg, cls = planted["segmentation"], planted["classification"]
    eight = {"s1": seg[:6], "s2": seg[6:], "c1": cls[:4], "c2": cls[4:], "d": planted["detection"],
             "r": planted["regression"], "x1": [], "x2": []}
    eight["x1"], eight["s2"] = eight["s2"][:2], eight["s2"][2:]
    eight["x2"], eight["c2"] = eight["c2"][:2], eight["c2"][2:]
    groups = A.data_groups(_planted(eight), k)
    assert len(groups) == k
    assert sorted(map(sorted, groups.values())) == sorted(map(sorted, eight.values()))
    path = A.write_data_grouping(groups, tmp_path / "smoke", "lookahead", "profile=smoke, seeds [0], synthetic data")
    assert path == tmp_path / "smoke" / "groupings" / "affinity.yaml"
    back = read_grouping_file(path)
    assert back["name"] == "affinity" and back["by"] is None
    assert resolve_groups(back) == groups
    # grouping=<path> works through the one config loader (CLI, notebooks), and defines the CG units
    cfg = load(["profile=smoke", "paradigm=clinical", f"grouping={path}"])
    assert cfg.grouping.name == "affinity" and paradigm_units(cfg) == groups
    # the run plan trains them in an experiment named by the groups' content
    from m2dino.study.plans import groups_plan

    (plan,) = groups_plan(path, groups)
    assert plan[0] == f"experiment=affinity_groups/{A.groups_hash(groups)}" and plan[-1] == f"grouping={path}"


def test_a_bad_grouping_file_is_refused_naming_the_file(tmp_path):
    bad = tmp_path / "g.yaml"
    bad.write_text("name: x\nby: null\ngroups:\n  a: [FUGC]\n")
    with pytest.raises(ValueError, match=rf"{bad}.*tasks in no group"):
        load(["paradigm=clinical", f"grouping={bad}"])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load([f"grouping={tmp_path / 'none.yaml'}"])
    with pytest.raises(FileNotFoundError, match="known"):
        load_grouping("no_such_grouping")


def test_predicted_transfer_is_the_weighted_mean_affinity_from_the_unit():
    t = ["FUGC", "IUGC", "breast_lesion", "organ_cls"]
    z = pd.DataFrame([[0.0, 0.2, -0.4, 0.1], [0.3, 0.0, 0.1, 0.0], [-0.2, 0.5, 0.0, 0.3], [0.0, 0.0, 0.2, 0.0]],
                     index=t, columns=t)
    w = pd.Series({"FUGC": 1.0, "IUGC": 1.0, "breast_lesion": 2.0, "organ_cls": 0.0})
    p = A.predicted_transfer(z, {"u": t, "alone": []}, w).set_index("task")["predicted"]
    assert p["FUGC"] == pytest.approx((0.3 * 1 + -0.2 * 2) / 3)  # organ_cls weighs nothing
    assert p["breast_lesion"] == pytest.approx((-0.4 + 0.1) / 2)
    lone = A.predicted_transfer(z, {"only": ["FUGC"]}).iloc[0]
    assert lone["n_others"] == 0 and np.isnan(lone["predicted"])


def test_evaluate_predictions_rank_correlation_and_flagged_share():
    rng = np.random.default_rng(1)
    x = rng.standard_normal(20)
    pred = pd.DataFrame({"estimator": "lookahead", "paradigm": "all", "unit": "all", "task": TASKS[:20],
                         "n_others": 19, "predicted": x})
    measured = pd.DataFrame({"paradigm": "all", "task": TASKS[:20], "measured": 3 * x + 0.1, "ci_low": 3 * x - 1,
                             "ci_high": 3 * x + 1, "negative_transfer": 3 * x + 1 < 0, "measure": "Δs"})
    per, summary = A.evaluate_predictions(pred, measured, n_boot=200)
    r = summary.iloc[0]
    assert r["spearman"] == pytest.approx(1.0) and r["ci_low"] > 0.9
    assert r["n_negative"] == int((3 * x + 1 < 0).sum()) and r["share_negative_flagged"] == 1.0
    # reversed: no negative-transfer task is flagged
    _, rev = A.evaluate_predictions(pred.assign(predicted=-x), measured, n_boot=50)
    assert rev.iloc[0]["spearman"] == pytest.approx(-1.0) and rev.iloc[0]["n_negative_flagged"] == 0
    text = A.affinity_findings(summary, None, "profile=smoke, seeds [0], synthetic data")
    assert "profile=smoke" in text and "Synthetic" in text and "+1.00" in text


def test_affinity_matrix_averages_steps_then_seeds_and_bad_files_name_themselves(tmp_path):
    rows = []
    for seed, base in ((0, 0.1), (1, 0.3)):
        d = tmp_path / f"seed{seed}"
        d.mkdir()
        pd.DataFrame([{"step": s, "i": i, "j": j, "value": base + s, "estimator": "lookahead"}
                      for s in (0, 2) for i in ("FUGC", "IUGC") for j in ("FUGC", "IUGC")]).to_csv(
            d / "affinity.csv", index=False)
        rows.append(d)
    m = A.affinity_matrix(A.load_affinity(rows))
    assert list(m.index) == ["FUGC", "IUGC"] and m.loc["FUGC", "IUGC"] == pytest.approx((1.1 + 1.3) / 2)
    (tmp_path / "seed0" / "affinity.csv").write_text("step,i,j\n0,a,b\n")
    with pytest.raises(ValueError, match=r"seed0/affinity.csv: missing columns"):
        A.read_affinity(tmp_path / "seed0")
    with pytest.raises(A.NoAffinityError):
        A.load_affinity([])


def test_affinity_advice_recommends_by_sign_and_says_what_it_is_based_on():
    t = ["breast_lesion", "breast_2cls", "breast_3cls", "lung", "lung_2cls"]
    # breast tasks help each other; lung tasks are hurt by everyone
    z = pd.DataFrame([[0, .3, .3, -.1, -.1], [.3, 0, .3, -.1, -.1], [.3, .3, 0, -.1, -.1],
                      [-.2, -.2, -.2, 0, -.1], [-.2, -.2, -.2, -.1, 0]], index=t, columns=t, dtype=float)
    out = A.affinity_advice(z, None, ["breast_lesion", "lung", "new_task"], "the main AU run", "lookahead")
    out = out.set_index("task")
    assert out.loc["breast_lesion", "affinity_recommendation"] == "clinical-group"
    assert out.loc["breast_lesion", "affinity_best_group"] == "breast"
    assert out.loc["lung", "affinity_recommendation"] == "single"
    assert "lookahead affinity from the main AU run" in out.loc["lung", "affinity_evidence"]
    assert out.loc["new_task", "affinity_recommendation"] == "no affinity"
    assert "short affinity run" in out.loc["new_task", "affinity_evidence"]


def test_advise_cli_uses_affinity_when_the_main_au_run_has_it(tmp_path, capsys):
    from analysis_fixtures import fabricate
    from m2dino.commands.advise import main as advise_main

    tasks = ["breast_lesion", "breast_2cls", "lung", "lung_2cls", "FUGC"]
    root = tmp_path / "results" / "smoke"
    fabricate(root, lambda p, t, s: {"single": 0.6, "clinical": 0.5, "all": 0.66}[p]
              if t != "FUGC" else {"single": 10.0, "clinical": 12.0, "all": 9.0}[p], tasks=tasks)
    au = root / "all" / "all" / "seed0"
    pd.DataFrame([{"step": 0, "i": i, "j": j, "value": 0.2 if i != "lung" else -0.3, "estimator": e}
                  for i in tasks for j in tasks for e in ("lookahead", "cosine")]).to_csv(au / "affinity.csv",
                                                                                           index=False)
    pd.DataFrame({"task": tasks * 3}).to_csv(au / "train_log.csv", index=False)
    q = tmp_path / "tasks.yaml"
    q.write_text("tasks: [breast_lesion, lung]\n")
    assert advise_main([str(q), "profile=smoke", f"results_dir={tmp_path / 'results'}", "n_boot=20"]) == 0
    out = capsys.readouterr().out
    assert "from task affinity" in out
    assert "breast_lesion: clinical-group" in out  # its group helps (+0.2); all tasks less (lung's steps hurt it)
    assert "lung: all-task" in out  # every other task helps lung by +0.2
    assert "based on: lookahead affinity from the main AU run (1 seed(s), 1 measurements)" in out


def test_measured_transfer_takes_delta_s_from_the_stats_table_when_present(tmp_path):
    d = pd.DataFrame({"experiment": ["main", "main", "other"], "paradigm": ["clinical", "all", "all"],
                      "task": ["FUGC", "FUGC", "FUGC"], "type": "regression", "group": "obstetrics",
                      "s_ts": 0.5, "s_paradigm": [0.4, 0.6, 0.1], "delta_s": [-0.1, 0.1, -0.4],
                      "ci_low": [-0.2, 0.05, -0.5], "ci_high": [-0.05, 0.2, -0.3], "p_holm": 0.01,
                      "negative_transfer": [True, False, True]})
    d.to_csv(tmp_path / "delta_s_task.csv", index=False)
    m = A.measured_transfer(pd.DataFrame(), tmp_path)
    assert set(m["measure"]) == {"Δs"} and len(m) == 2
    assert m.set_index("paradigm").loc["clinical", "negative_transfer"]
    d.drop(columns="delta_s").to_csv(tmp_path / "delta_s_task.csv", index=False)
    with pytest.raises(ValueError, match="delta_s_task.csv: missing columns"):
        A.measured_transfer(pd.DataFrame(), tmp_path)
