"""Paradigms: their units, equal exposure per task whatever the aggregation, result tables and curves."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir

from m2dino.config import CONF_DIR, load
from m2dino.grouping import paradigm_units
from m2dino.registry import task_ids
from m2dino.analysis.tidy import collect_metrics
from m2dino.train.paradigms import collect_logs, run_paradigm
from m2dino.analysis.paradigm_results import TABLE_COLUMNS, plot_curves, result_table
from train_standins import TASKS, tiny_data, tiny_model


@pytest.mark.parametrize("paradigm,n_units", [("single", 27), ("clinical", 8), ("all", 1)])
def test_every_task_in_exactly_one_unit(paradigm, n_units):
    units = paradigm_units(load([f"paradigm={paradigm}"]))
    assert len(units) == n_units
    assert sorted(t for ids in units.values() for t in ids) == sorted(task_ids())


def test_paradigms_share_everything_but_aggregation():
    cfgs = {p: load([f"paradigm={p}"]) for p in ("single", "clinical", "all")}
    for key in ("model", "data", "train", "profile", "seed"):
        assert len({str(c[key]) for c in cfgs.values()}) == 1, key


def test_run_paradigms_equal_exposure_and_tables(tmp_path):
    logs, tables = {}, {}
    for paradigm in ("single", "clinical"):
        cfg = load(["profile=smoke", f"paradigm={paradigm}", f"results_dir={tmp_path}", "train.epochs=1",
                    "train.batch_size=4", "train.n_boot=20", f"tasks=[{','.join(TASKS)}]"])
        paths = run_paradigm(cfg, progress=False, make_model=tiny_model, make_data=tiny_data)
        assert len(paths) == (4 if paradigm == "single" else 3)  # clinical: breast (2 tasks), thyroid, obstetrics
        logs[paradigm] = collect_logs(paths)
        tables[paradigm] = result_table(collect_metrics(tmp_path / "smoke" / paradigm), paradigm, n_boot=100)
    # every task saw each of its 12 training images once: 3 batches of 4, in both paradigms
    for paradigm, log in logs.items():
        assert log.groupby("task").size().to_dict() == {t: 3 for t in TASKS}, paradigm
    for paradigm, table in tables.items():
        assert list(table.columns) == TABLE_COLUMNS and sorted(table["task"]) == sorted(TASKS)
        assert table["trivial"].notna().all()
    both = collect_metrics(tmp_path / "smoke")
    assert set(both["paradigm"]) == {"single", "clinical", "trivial"}
    assert not both[both["paradigm"] == "trivial"].duplicated(["seed", "task", "metric"]).any()
    fig, files = plot_curves(pd.concat(logs.values()), "test", tmp_path / "fig", "curves")
    first = [f.read_bytes() for f in files]
    plt.close(fig)
    fig, files = plot_curves(pd.concat(logs.values()), "test", tmp_path / "fig", "curves")
    plt.close(fig)
    assert [f.read_bytes() for f in files] == first  # byte-reproducible PNG and PDF


def test_launcher_configs_compose():
    for name, target in (("local", "JoblibLauncher"), ("slurm", "SlurmLauncher")):
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose("config", overrides=[f"hydra/launcher={name}"], return_hydra_config=True)
        assert cfg.hydra.launcher._target_.endswith(target)
