"""The advisor: fitted from results, refusing without them."""
import numpy as np
import pandas as pd
import pytest
from analysis_fixtures import fabricate

from m2dino.commands.advise import main as advise_main
from m2dino.analysis.advisor import AdvisorError, Query, advise, effects, fit, read_queries
from m2dino.registry import all_tasks


def _changes(seed=0):
    # CG gains grow with data (slope 10 per log unit, 0 at n=50); AU a steady +3; small noise.
    rng = np.random.default_rng(seed)
    rows = []
    for t in all_tasks():
        for frac in (0.25, 1.0):
            n = max(8, t.n_train // 20) * frac
            for p, c in (("clinical", 10 * np.log(n / 50)), ("all", 3.0)):
                rows.append(dict(experiment=f"data_scale/frac{frac}", paradigm=p, task=t.id, type=t.type,
                                 n_train=n, change=c + 0.5 * rng.standard_normal()))
    return pd.DataFrame(rows)


def test_advisor_refuses_without_results():
    with pytest.raises(AdvisorError, match="no measured changes"):
        advise(pd.DataFrame(columns=["experiment", "paradigm", "task", "type", "n_train", "change"]),
               [Query("x", "segmentation", 100.0, False)], n_boot=10)


def test_advisor_recommends_from_the_fitted_effects():
    ch = _changes()
    eff = effects(fit(ch, n_boot=100)).set_index(["paradigm", "effect"])
    assert eff.loc[("clinical-group", "log n_train"), "estimate"] == pytest.approx(10.0, abs=0.5)
    assert eff.loc[("clinical-group", "log n_train"), "ci90_low"] > 5
    out = advise(ch, [Query("small", "segmentation", 10.0, False), Query("big", "classification", 200.0, False),
                      Query("huge", "regression", 1e5, False)], n_boot=100).set_index("task")
    assert out.loc["small", "recommendation"] == "all-task"
    assert out.loc["big", "recommendation"] == "clinical-group" and out.loc["big", "p_best"] > 0.9
    assert "extrapolation" in out.loc["huge", "evidence"] and "extrapolation" not in out.loc["big", "evidence"]
    only_seg = ch[ch["type"] == "segmentation"]
    r = advise(only_seg, [Query("d", "detection", 50.0, False)], n_boot=20).iloc[0]
    assert r["recommendation"] == "refused" and "no results for detection" in r["evidence"]


def test_read_queries_validates_with_the_file_name(tmp_path):
    p = tmp_path / "tasks.yaml"
    p.write_text("tasks:\n  - breast_lesion\n  - {id: my_new, type: segmentation, n_train: 300}\n")
    q = read_queries(p)
    assert q[0] == Query("breast_lesion", "segmentation", None, True) and q[1].n_train == 300.0
    p.write_text("tasks:\n  - {id: my_new, type: segmentation}\n")
    with pytest.raises(AdvisorError, match=r"tasks.yaml, task 1 \(my_new\): a new task needs n_train"):
        read_queries(p)
    p.write_text("tasks:\n  - nonsense_task\n")
    with pytest.raises(AdvisorError, match="unknown task id"):
        read_queries(p)


def test_advise_cli_refuses_then_recommends(tmp_path, capsys):
    q = tmp_path / "tasks.yaml"
    q.write_text("tasks: [breast_lesion, {id: new_seg, type: segmentation, n_train: 20}]\n")
    args = [str(q), "profile=smoke", f"results_dir={tmp_path / 'results'}", "n_boot=50"]
    assert advise_main(args) == 1
    assert "refused" in capsys.readouterr().err
    # CG 1/6 worse than TS, AU 10% better, on every task
    fabricate(tmp_path / "results" / "smoke", lambda p, t, s: {"single": 0.6, "clinical": 0.5, "all": 0.66}[p]
              if t != "FUGC" else {"single": 10.0, "clinical": 12.0, "all": 9.0}[p],
              tasks=["breast_lesion", "breast_2cls", "lung", "lung_2cls", "FUGC"])
    assert advise_main(args) == 0
    out = capsys.readouterr().out
    assert "new_seg (segmentation, n_train 20): all-task" in out
    assert "breast_lesion (segmentation" in out and "synthetic data" in out
