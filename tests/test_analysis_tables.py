"""Tidy table, per-task change, Δm, negative transfer and group aggregation on fabricated run folders."""
import numpy as np
import pandas as pd
import pytest
from analysis_fixtures import fabricate, write_run

from m2dino.analysis.change import RunSet, aggregate, relative_change, task_changes
from m2dino.analysis.delta_m import delta_m
from m2dino.analysis.tidy import NoResultsError, primary_table, provenance, tidy_results
from m2dino import runs
from m2dino.runs import parse_run_path as parse_run_dir
from m2dino.analysis.transfer import classify, count_negative


def test_relative_change_sign_follows_direction():
    # Dice up is better, MRE down is better: both improvements must come out positive.
    assert relative_change("breast_lesion", 0.5, 0.6) == pytest.approx(20.0)
    assert relative_change("FUGC", 20.0, 15.0) == pytest.approx(25.0)
    assert relative_change("FUGC", 20.0, 25.0) == pytest.approx(-25.0)
    # the study's breast_lesion numbers [S]: 0.713 -> 0.145 is -79.7%
    assert relative_change("breast_lesion", 0.713, 0.145) == pytest.approx(-79.66, abs=0.01)
    assert np.isnan(relative_change("FUGC", 0.0, 1.0))  # undefined against a zero reference, never infinite


def test_run_dir_parsing_with_nested_experiment(tmp_path):
    root = tmp_path / "smoke"
    assert parse_run_dir(root / "single" / "FUGC" / "seed0", root) == \
        {"experiment": "main", "paradigm": "single", "unit": "FUGC", "seed": 0}
    assert parse_run_dir(root / "data_scale" / "frac0.25" / "all" / "all" / "seed2", root)["experiment"] == \
        "data_scale/frac0.25"
    with pytest.raises(ValueError, match="not a run folder"):
        parse_run_dir(root / "tables" / "x" / "seed0", root)


def test_tidy_reads_every_run_and_refuses_empty(tmp_path):
    root = tmp_path / "smoke"
    with pytest.raises(NoResultsError):
        tidy_results(root)
    fabricate(root, lambda p, t, s: 0.5, seeds=(0, 1), tasks=["breast_lesion", "breast_2cls", "FUGC"])
    df = tidy_results(root)
    # 3 paradigms x 3 tasks x 2 seeds x 2 metrics, plus the trivial predictor once per task and seed
    assert len(df) == 36 + 6 and set(df.loc[df["paradigm"] == "trivial", "unit"]) == {"trivial"}
    assert set(df["experiment"]) == {"main"}
    prim = primary_table(df)
    assert len(prim) == 18 + 6 and set(prim["metric"]) == {"dice", "auc", "mre"}
    assert provenance(df) == "profile=smoke, seeds [0, 1], synthetic data"


def test_tidy_names_file_and_row_on_inconsistent_metrics(tmp_path):
    root = tmp_path / "smoke"
    d = write_run(root, "single", "FUGC", 0, {"FUGC": 10.0})
    df = pd.read_csv(d / "metrics.csv")
    df.loc[1, "seed"] = 3
    df.to_csv(d / "metrics.csv", index=False)
    with pytest.raises(ValueError, match=r"metrics.csv, row 3: seed"):
        tidy_results(root)
    (d / runs.DONE).unlink()  # an unfinished run is not read at all
    with pytest.raises(NoResultsError):
        tidy_results(root)


def _values(p, t, s):
    # TS: Dice/AUC/IoU 0.8, MRE 10. CG: 10% worse on every task. AU: 10% better. Seed 1 doubles the effect.
    k = {"single": 0.0, "clinical": -0.1, "all": 0.1}[p] * (1 + s)
    return 10.0 * (1 - k) if t in ("FUGC", "IUGC", "fetal_femur") else 0.8 * (1 + k)


def test_changes_averaged_over_seeds_and_delta_m_hand_computed(tmp_path):
    root = tmp_path / "smoke"
    fabricate(root, _values, seeds=(0, 1))
    tidy = tidy_results(root)
    ch = task_changes(tidy, bootstrap=False)
    assert len(ch) == 2 * 27
    cg = ch[ch["paradigm"] == "clinical"].set_index("task")["change"]
    au = ch[ch["paradigm"] == "all"].set_index("task")["change"]
    # seed 0: -10%, seed 1: -20% -> -15% on every task, MRE included (lower MRE counts as better)
    assert np.allclose(cg, -15.0) and np.allclose(au, 15.0)
    dm = delta_m(tidy, RunSet("main", "clinical")).iloc[0]
    assert dm["delta_m"] == pytest.approx(-15.0) and dm["n_tasks"] == 27 and dm["n_seeds"] == 2
    assert dm["seed_sd"] == pytest.approx(np.std([-10.0, -20.0], ddof=1))


def test_delta_m_on_a_mixed_case(tmp_path):
    # two tasks by hand: breast_lesion Dice 0.5 -> 0.6 (+20%), FUGC MRE 20 -> 30 (-50%): Δm = (20 - 50)/2 = -15
    root = tmp_path / "smoke"
    # lung: TS Dice 0 gives no relative change; it is left out and T says so
    vals = {("single", "breast_lesion"): 0.5, ("all", "breast_lesion"): 0.6, ("single", "FUGC"): 20.0,
            ("all", "FUGC"): 30.0, ("single", "lung"): 0.0, ("all", "lung"): 0.3}
    fabricate(root, lambda p, t, s: vals[(p, t)], tasks=["breast_lesion", "FUGC", "lung"],
              paradigms=("single", "all"))
    out = delta_m(tidy_results(root), RunSet("main", "all"))
    assert out.loc[0, "delta_m"] == pytest.approx(-15.0)
    assert out.loc[0, "n_tasks"] == 2 and out.loc[0, "n_tasks_expected"] == 27
    by_type = delta_m(tidy_results(root), RunSet("main", "all"), by="type").set_index("type")["delta_m"]
    assert by_type["segmentation"] == pytest.approx(20.0) and by_type["regression"] == pytest.approx(-50.0)


def _changes(rows):
    return pd.DataFrame(rows, columns=["comparison", "task", "type", "group", "change", "p_holm"])


def test_negative_transfer_needs_a_holm_p_below_005_below_zero():
    ch = _changes([
        ("CG vs TS", "breast_lesion", "segmentation", "breast", -30.0, 0.001),   # negative
        ("CG vs TS", "breast_2cls", "classification", "breast", -5.0, 0.2),      # not significant: neutral
        ("CG vs TS", "breast_3cls", "classification", "breast", 4.0, 0.01),      # positive
        ("CG vs TS", "lung", "segmentation", "lung", -2.0, 0.049),               # negative
        ("AU vs TS", "breast_lesion", "segmentation", "breast", -1.0, np.nan),   # no p-value: no interval
    ])
    assert list(classify(ch)["transfer"]) == ["negative", "neutral", "positive", "negative", "no interval"]
    n = count_negative(ch).set_index("comparison")["n_negative"]
    assert n["CG vs TS"] == 2 and n["AU vs TS"] == 0
    by_type = count_negative(ch, "type").set_index(["comparison", "type"])["n_negative"]
    assert by_type[("CG vs TS", "segmentation")] == 2 and by_type[("CG vs TS", "classification")] == 0
    g = aggregate(ch, "group").set_index(["comparison", "group"])
    assert g.loc[("CG vs TS", "breast"), "mean_change"] == pytest.approx((-30 - 5 + 4) / 3)
    assert g.loc[("CG vs TS", "breast"), "n_negative"] == 1 and g.loc[("CG vs TS", "breast"), "n_positive"] == 1
    assert g.loc[("CG vs TS", "lung"), "n_tasks"] == 1
    with pytest.raises(ValueError, match="p_holm"):
        classify(ch.drop(columns="p_holm"))


def test_run_path_and_parse_run_path_are_inverse(tmp_path):
    from m2dino.runs import run_path

    for exp in ("main", "data_scale/frac0.25", "ablation_dense"):
        d = run_path(tmp_path, "clinical", "breast", 3, exp)
        assert parse_run_dir(d, tmp_path) == {"experiment": exp, "paradigm": "clinical", "unit": "breast", "seed": 3}
    assert run_path(tmp_path, "all", "all", 0) == tmp_path / "all" / "all" / "seed0"
