"""End to end on the real pieces (smoke profile): synthetic data -> M2DINO -> run folder; predict -> evaluate agrees."""
from __future__ import annotations

import pandas as pd

from m2dino.cli import main as cli
from m2dino.config import load
from m2dino.analysis.tidy import collect_metrics
from m2dino.train.paradigms import run_paradigm

TASKS = ["breast_lesion", "breast_2cls", "thyroid_nodule_det", "FUGC"]


def test_all_task_run_then_predict_and_evaluate_agree(smoke_data, tmp_path):
    over = ["profile=smoke", "paradigm=all", f"data.root={smoke_data}", f"results_dir={tmp_path}", "train.n_boot=50",
            f"tasks=[{','.join(TASKS)}]"]
    (run,) = run_paradigm(load(over), progress=False)
    m = collect_metrics([run])
    assert set(m["task"]) == set(TASKS) and set(m["paradigm"]) == {"all", "trivial"}
    assert m.loc[m["metric"] == "dice", "value"].between(0, 1).all()
    routing = pd.read_json(run / "routing.json")
    assert set(routing.columns) == set(TASKS)  # MoE token counts per task and block

    out = tmp_path / "pred"
    assert cli(["predict", f"run={run}", f"data.root={smoke_data}", f"out={out}", "profile=smoke"]) == 0
    assert (out / "classification_predictions.json").is_file() and any(out.rglob("*.png"))
    assert cli(["evaluate", f"data.root={smoke_data}", f"predictions={out}", "profile=smoke", "train.n_boot=0"]) == 0
    scores = pd.read_csv(out / "scores_test.csv").set_index(["task", "metric"])["value"]
    ours = m[m["paradigm"] == "all"].set_index(["task", "metric"])["value"]
    # the submission round trip (PNG masks, JSON records) scores exactly what the run scored in memory
    pd.testing.assert_series_equal(scores.sort_index(), ours.loc[scores.index].sort_index(), check_names=False,
                                   rtol=1e-6)


def test_train_command_refuses_a_broken_dataset(smoke_data, tmp_path, capsys):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(smoke_data, broken)
    next((broken / "train").rglob("*.png")).unlink()  # an image the CSV names is gone
    code = cli(["train", "profile=smoke", "paradigm=single", f"data.root={broken}", f"results_dir={tmp_path}"])
    assert code == 1 and "refusing to train" in capsys.readouterr().err
    assert not (tmp_path / "smoke").exists()
