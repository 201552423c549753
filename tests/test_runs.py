"""The run folder's one owner (m2dino/runs.py): a run is finished only under the config and code it was asked for;
a stale run (another hashed key, another RESULTS_VERSION) is retrained by the trainer and never read by the analysis;
a partial run is never read as finished; and a writer killed mid-way leaves the folder partial, never finished with
a half-written file."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from omegaconf import OmegaConf

from m2dino import atomic, config, provenance, runs
from m2dino.analysis.tidy import NoResultsError, collect_metrics, tidy_results
from m2dino.config import load
from m2dino.train.run import run_unit
from train_standins import TASKS, tiny_data, tiny_model


def _cfg(tmp_path, *extra):
    return load(["profile=smoke", "paradigm=all", f"results_dir={tmp_path}", "train.epochs=2", "train.batch_size=4",
                 "train.lr=3e-3", "train.n_boot=20", *extra])


def _run(cfg, **kw):
    built = []

    def model(rc, ids):
        built.append(rc)
        return tiny_model(rc, ids)

    path = run_unit(cfg, "all", TASKS, progress=False, make_model=model, make_data=tiny_data, **kw)
    return path, len(built)


def _rc(cfg):
    return runs.run_config(cfg, "all", TASKS)


def test_a_changed_hashed_key_makes_the_run_stale_and_the_trainer_redoes_it(tmp_path):
    old = _cfg(tmp_path)
    path, built = _run(old)
    assert built == 1 and runs.state(path, _rc(old)) == runs.FINISHED
    assert _run(old)[1] == 0  # finished: reused, no model built
    new = _cfg(tmp_path, "train.epochs=3")
    assert runs.state(path, _rc(new)) == runs.STALE
    assert runs.differences(path, _rc(new)) == ["train.epochs: 2 -> 3"]
    with pytest.raises(runs.StaleRunError, match="train.epochs: 2 -> 3"):
        runs.require_finished(path, _rc(new))
    again, built = _run(new)
    assert again == path and built == 1  # retrained, from scratch (a stale run is never resumed)
    assert runs.state(path, _rc(new)) == runs.FINISHED and runs.state(path, _rc(old)) == runs.STALE
    assert runs.read_config(path)["train"]["epochs"] == 3
    log = pd.read_csv(path / runs.TRAIN_LOG)
    assert sorted(log["epoch"].unique()) == [0, 1, 2]


def test_a_new_results_version_makes_every_run_stale_and_the_trainer_redoes_it(tmp_path, monkeypatch):
    cfg = _cfg(tmp_path)
    path, _ = _run(cfg)
    assert runs.state(path) == runs.FINISHED and runs.read_run_json(path)["results_version"] == config.RESULTS_VERSION
    monkeypatch.setattr(config, "RESULTS_VERSION", config.RESULTS_VERSION + 1)
    assert runs.state(path, _rc(cfg)) == runs.STALE
    assert runs.state(path) == runs.STALE  # judged by its own config under today's code, too
    assert runs.differences(path, _rc(cfg)) == [
        f"RESULTS_VERSION: {config.RESULTS_VERSION - 1} -> {config.RESULTS_VERSION} (the code changed what a config "
        "computes)"]
    with pytest.raises(NoResultsError):
        tidy_results(tmp_path / "smoke")  # the stale run is not read
    assert collect_metrics([path]).empty
    _, built = _run(cfg)
    assert built == 1 and runs.state(path) == runs.FINISHED
    assert runs.read_run_json(path)["results_version"] == config.RESULTS_VERSION
    assert len(tidy_results(tmp_path / "smoke"))


def test_a_partial_run_is_never_read_as_finished_and_one_of_another_config_is_not_resumed(tmp_path):
    cfg = _cfg(tmp_path)
    path, _ = _run(cfg, stop_after_epoch=1)
    assert runs.state(path) == runs.PARTIAL and runs.state(path, _rc(cfg)) == runs.PARTIAL
    table = runs.discover(tmp_path / "smoke")
    assert list(table["state"]) == [runs.PARTIAL] and table["hash"].isna().all()
    assert runs.finished(tmp_path / "smoke") == [] and collect_metrics(tmp_path / "smoke").empty
    with pytest.raises(NoResultsError):
        tidy_results(tmp_path / "smoke")
    with pytest.raises(FileNotFoundError, match="partial"):
        runs.require_finished(path, _rc(cfg))
    # a partial run of another config is wiped, not resumed: its first epoch was trained at another learning rate
    other = _cfg(tmp_path, "train.lr=1e-3")
    runs.start(path, _rc(other))
    assert not (path / "last.pt").exists() and runs.read_config(path)["train"]["lr"] == 1e-3


def test_discovery_is_one_tidy_table_and_reading_records_provenance(tmp_path):
    main = _cfg(tmp_path)
    side = _cfg(tmp_path, "experiment=ablation_dense")
    a, _ = _run(main)
    b, _ = _run(side)
    table = runs.discover(tmp_path / "smoke")
    assert list(table.columns) == runs.RUN_COLUMNS
    assert table[["experiment", "paradigm", "unit", "seed", "state"]].values.tolist() == [
        ["ablation_dense", "all", "all", 0, runs.FINISHED], ["main", "all", "all", 0, runs.FINISHED]]
    assert list(runs.discover(tmp_path / "smoke", "ablation_dense")["path"]) == [b]
    assert runs.run_path(tmp_path / "smoke", "all", "all", 0, "ablation_dense") == b
    assert runs.parse_run_path(a, tmp_path / "smoke") == {"experiment": "main", "paradigm": "all", "unit": "all",
                                                         "seed": 0}
    provenance.forget()
    runs.read_metrics(a)
    assert provenance.record()["runs"][0]["hash"] == runs.run_hash(_rc(main))
    provenance.forget()


def test_the_done_file_name_is_written_in_one_module_only():
    import ast

    from m2dino.paths import PACKAGE

    holders = sorted(str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
                     if any(isinstance(n, ast.Constant) and n.value == runs.DONE
                            for n in ast.walk(ast.parse(p.read_text(encoding="utf-8")))))
    assert holders == ["runs.py"]


def test_a_writer_that_fails_mid_way_leaves_the_run_partial_and_a_rerun_finishes_it(tmp_path, monkeypatch):
    """Ctrl-C while the results are written: every file is either whole or absent, and the run is partial."""
    ref, _ = _run(_cfg(tmp_path / "ref"))
    cfg = _cfg(tmp_path / "cut")
    real = pd.DataFrame.to_csv

    def cut(self, path=None, *a, **k):
        if path is not None and Path(path).name.startswith(f".{runs.PER_IMAGE_TRIVIAL}."):
            Path(path).write_text(real(self, None, *a, **k)[:100])  # half of it, then the interrupt
            raise KeyboardInterrupt
        return real(self, path, *a, **k)

    monkeypatch.setattr(pd.DataFrame, "to_csv", cut)
    with pytest.raises(KeyboardInterrupt):
        _run(cfg)
    monkeypatch.undo()
    path = runs.run_dir(cfg, "all")
    assert runs.state(path) == runs.PARTIAL
    assert (path / runs.METRICS).is_file() and not (path / runs.PER_IMAGE_TRIVIAL).exists()
    assert not list(path.glob(f"*{atomic.TMP_SUFFIX}")) and not list(path.glob(f".*{atomic.TMP_SUFFIX}"))
    pd.testing.assert_frame_equal(pd.read_csv(path / runs.METRICS), pd.read_csv(ref / runs.METRICS))  # whole
    _, built = _run(cfg)  # resumes: the training was done, the scoring is redone
    assert built == 1 and runs.state(path) == runs.FINISHED
    for name in (runs.METRICS, runs.PER_IMAGE, runs.PER_IMAGE_TRIVIAL):
        pd.testing.assert_frame_equal(pd.read_csv(path / name), pd.read_csv(ref / name))


_KILLED_WRITER = """
import sys, time
from pathlib import Path
import pandas as pd
from omegaconf import OmegaConf
from m2dino import runs

path = Path(sys.argv[1])
rc = OmegaConf.create({"profile": {"name": "smoke"}, "unit": "all", "seed": 0, "tasks": ["FUGC"]})
runs.start(path, rc)
real = pd.DataFrame.to_csv

def slow(self, target=None, *a, **k):
    text = real(self, None, *a, **k)
    with open(target, "w") as f:
        f.write(text[: len(text) // 2])
        f.flush()
        print("writing", flush=True)
        time.sleep(60)  # killed here, half-way through metrics.csv
        f.write(text[len(text) // 2:])

pd.DataFrame.to_csv = slow
runs.write_table(path, runs.METRICS, pd.DataFrame({"task": ["FUGC"] * 200, "value": range(200)}))
runs.mark_done(path, rc, {"steps": 1})
"""


def test_a_writer_killed_mid_way_leaves_the_folder_partial(tmp_path):
    """SIGKILL while metrics.csv is half-written: no metrics.csv, no DONE, the folder is partial; a rerun cleans up."""
    path = runs.run_path(tmp_path / "smoke", "all", "all", 0)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(runs.__file__).parents[1]),
                                                         os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, str(path)], stdout=subprocess.PIPE, text=True,
                            env=env)
    try:
        assert proc.stdout.readline().strip() == "writing"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    left = list(path.glob(f".{runs.METRICS}.*{atomic.TMP_SUFFIX}"))
    assert len(left) == 1 and left[0].stat().st_size > 0  # the half-written file, under a name nothing reads
    assert not (path / runs.METRICS).exists() and runs.state(path) == runs.PARTIAL
    assert runs.discover(tmp_path / "smoke")["state"].tolist() == [runs.PARTIAL]
    runs.start(path, OmegaConf.load(path / runs.CONFIG))  # a rerun starts by clearing what the kill left
    assert not left[0].exists() and runs.state(path) == runs.PARTIAL
