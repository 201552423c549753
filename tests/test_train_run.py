"""Runs on stand-ins: folder layout, exact resume after a kill, caching by config hash, metrics beside trivial."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from m2dino import runs
from m2dino.config import load
from m2dino.runs import METRIC_COLUMNS, run_dir
from m2dino.train.run import run_unit
from train_standins import TASKS, tiny_data, tiny_model


def _cfg(tmp_path, *extra):
    return load(["profile=smoke", "paradigm=all", f"results_dir={tmp_path}", "train.epochs=2", "train.batch_size=4",
                 "train.lr=3e-3", "train.n_boot=50", *extra])


def _run(cfg, **kw):
    return run_unit(cfg, "all", TASKS, progress=False, make_model=tiny_model, make_data=tiny_data, **kw)


def test_run_folder_holds_everything(tmp_path):
    cfg = _cfg(tmp_path, "experiment=ablation_dense")
    path = _run(cfg)
    assert path == tmp_path / "smoke" / "ablation_dense" / "all" / "all" / "seed0"
    for f in ("config.yaml", "train_log.csv", "val_log.csv", "last.pt", "best.pt", "metrics.csv", "per_image.csv",
              "per_image_trivial.csv", "routing.json", "run.json", runs.DONE):
        assert (path / f).is_file(), f
    m = pd.read_csv(path / "metrics.csv")
    assert list(m.columns) == METRIC_COLUMNS
    assert set(m["paradigm"]) == {"all", "trivial"} and set(m["task"]) == set(TASKS)
    primary = m[m["metric"].isin(["dice", "auc", "iou", "mre"])]
    assert len(primary) == 2 * len(TASKS) and primary[["ci_low", "ci_high"]].notna().all().all()
    assert (primary["ci_low"] <= primary["value"] + 1e-9).all() and (primary["value"] <= primary["ci_high"] + 1e-9).all()
    assert (m["n_train"] == 12).all() and (m["n_test"] == 8).all()
    per_image = pd.read_csv(path / "per_image.csv")
    assert per_image.groupby("task").size().to_dict() == {t: 8 for t in TASKS}
    assert set(json.loads((path / "routing.json").read_text())) == set(TASKS)


def test_resumed_run_ends_with_the_same_metrics(tmp_path):
    full = _run(_cfg(tmp_path / "a"))
    cfg = _cfg(tmp_path / "b")
    part = _run(cfg, stop_after_epoch=1)  # "killed" after the first epoch
    assert runs.state(part) == runs.PARTIAL and (part / "last.pt").exists()
    resumed = _run(cfg)
    assert runs.state(resumed) == runs.FINISHED
    pd.testing.assert_frame_equal(pd.read_csv(full / "metrics.csv"), pd.read_csv(resumed / "metrics.csv"))
    pd.testing.assert_frame_equal(pd.read_csv(full / "train_log.csv"), pd.read_csv(resumed / "train_log.csv"))


def test_finished_run_is_cached_and_a_changed_config_reruns(tmp_path):
    cfg = _cfg(tmp_path)
    path = _run(cfg)
    stamp = (path / "metrics.csv").stat().st_mtime_ns

    def boom(*a, **k):
        raise AssertionError("a cached run must not build a model")

    assert run_unit(cfg, "all", TASKS, progress=False, make_model=boom, make_data=tiny_data) == path
    assert (path / "metrics.csv").stat().st_mtime_ns == stamp
    # an output location does not change the hash; the learning rate does
    moved = _cfg(tmp_path, "figures_dir=/elsewhere")
    assert run_unit(moved, "all", TASKS, progress=False, make_model=boom, make_data=tiny_data) == path
    changed = _cfg(tmp_path, "train.lr=1e-3")
    with pytest.raises(AssertionError, match="must not build"):
        run_unit(changed, "all", TASKS, progress=False, make_model=boom, make_data=tiny_data)
    assert runs.state(path) == runs.PARTIAL  # the stale result is not passed off as the new config's


def test_a_subset_of_a_unit_never_replaces_the_finished_full_unit(tmp_path):
    cfg = _cfg(tmp_path)
    path = _run(cfg)
    with pytest.raises(FileExistsError, match="would replace it"):
        run_unit(cfg, "all", TASKS[:1], progress=False, make_model=tiny_model, make_data=tiny_data)
    assert runs.state(path) == runs.FINISHED


def test_run_dir_main_experiment_has_no_extra_level(tmp_path):
    cfg = load(["profile=smoke", "paradigm=single", f"results_dir={tmp_path}", "seed=2"])
    assert run_dir(cfg, "FUGC") == tmp_path / "smoke" / "single" / "FUGC" / "seed2"
    cfg.experiment = "data_scale/frac0.25"
    assert run_dir(cfg, "FUGC") == tmp_path / "smoke" / "data_scale" / "frac0.25" / "single" / "FUGC" / "seed2"


def test_run_hash_ignores_keys_that_cannot_change_results():
    from m2dino.runs import run_config, run_hash

    def h(*extra):
        return run_hash(run_config(load(["profile=smoke", *extra]), "all", ["lung"]))

    assert h() == h("plan.seeds=[0,1,2]") == h("plan.probe.n_boot=50") == h("runtime.num_workers=3")
    assert h() == h("+plan.anything_new=1") == h("+runtime.anything_new=1")  # whole sections, by construction
    assert h() != h("train.order_seed=3")  # a fixed task order is another run; null is the run of before the key
    assert h() != h("train.lr=0.1")
    assert h() != h("pretrain.steps=7")
