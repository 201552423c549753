"""The cost accounting of a reproduction (m2dino/analysis/costs.py, ``python -m m2dino costs``) reads the run folders'
timing records and papermill's notebook records, and names a broken file."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from omegaconf import OmegaConf

from m2dino.analysis.costs import cost_table, notebook_times, projected_wall, run_costs, unit_floor
from m2dino.commands import costs as costs_cmd
from m2dino import runs
from m2dino.runs import run_path


def _run(root: Path, paradigm: str, unit: str, seed: int, steps: int, train: float, total: float,
         experiment: str = "main") -> Path:
    d = run_path(root, paradigm, unit, seed, experiment)
    d.mkdir(parents=True)
    rc = OmegaConf.create({"profile": {"name": root.name}, "unit": unit, "seed": seed})
    (d / runs.CONFIG).write_text(OmegaConf.to_yaml(rc))
    runs.mark_done(d, rc, {"steps": steps, "train_seconds": train, "total_seconds": total})
    return d


def _notebook(path: Path, duration: float | None) -> None:
    pm = {"start_time": "2026-12-03T10:00:00", "end_time": "2026-12-03T10:01:00"}
    if duration is not None:
        pm["duration"] = duration
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"cells": [], "metadata": {"papermill": pm}, "nbformat": 4, "nbformat_minor": 5}))


@pytest.fixture
def profile_root(tmp_path: Path) -> Path:
    root = tmp_path / "demo"
    _run(root, "single", "organ_cls", 0, 100, 10.0, 11.0)
    _run(root, "single", "organ_cls", 1, 100, 12.0, 13.0)
    _run(root, "all", "all", 0, 300, 30.0, 32.0)
    _run(root, "single", "breast_lesion", 0, 50, 5.0, 6.0, experiment="data_scale/frac0.5")
    (root / "pretrain" / "abc").mkdir(parents=True)
    (root / "pretrain" / "abc" / "run.json").write_text("{}")  # not a run folder: skipped, not an error
    return root


def test_run_costs_reads_every_run_and_skips_other_folders(profile_root: Path) -> None:
    runs = run_costs(profile_root)
    assert len(runs) == 4
    assert set(runs["experiment"]) == {"main", "data_scale/frac0.5"}
    assert runs["total_seconds"].sum() == pytest.approx(62.0)


def test_cost_table_sums_per_experiment_and_paradigm(profile_root: Path) -> None:
    table = cost_table(run_costs(profile_root))
    assert list(table["total_seconds"]) == [32.0, 24.0, 6.0]  # most expensive first
    ts = table[(table["experiment"] == "main") & (table["paradigm"] == "single")].iloc[0]
    assert (ts["runs"], ts["seeds"], ts["steps"]) == (2, 2, 200)
    assert ts["ms_per_step"] == pytest.approx(1000 * 22.0 / 200)
    assert table["share"].sum() == pytest.approx(1.0)
    assert ts["share"] == pytest.approx(24.0 / 62.0)


def test_unit_floor_divides_the_work_by_the_workers(profile_root: Path) -> None:
    runs = run_costs(profile_root)
    assert unit_floor(runs, 2) == pytest.approx(31.0)
    assert unit_floor(runs.iloc[:0], 2) == 0.0
    with pytest.raises(ValueError, match="at least 1"):
        unit_floor(runs, 0)


def test_projected_wall_time_is_the_work_spread_over_the_cores_or_the_longest_unit(profile_root: Path) -> None:
    runs = run_costs(profile_root)
    assert projected_wall(runs, 4) == pytest.approx(32.0)  # the longest unit (AU, 32 s) > 62 s / 4
    many = pd.concat([runs] * 10, ignore_index=True)  # 620 unit seconds, the longest still 32 s
    assert [projected_wall(many, c) for c in (4, 8, 16)] == pytest.approx([155.0, 77.5, 38.75])
    assert projected_wall(many.assign(threads=2), 8) == pytest.approx(155.0)  # 2-thread units: 4 side by side
    assert projected_wall(runs.iloc[:0], 4) == 0.0
    with pytest.raises(ValueError, match="cannot run"):
        projected_wall(runs.assign(threads=8), 4)


def test_a_broken_timing_record_is_named(profile_root: Path) -> None:
    bad = _run(profile_root, "clinical", "breast", 0, 1, 1.0, 1.0) / "run.json"
    bad.write_text('{"steps": 3}')
    with pytest.raises(ValueError, match=str(bad)):
        run_costs(profile_root)
    bad.write_text("not json")
    with pytest.raises(ValueError, match="timing record"):
        run_costs(profile_root)


def test_notebook_times_take_papermills_duration(tmp_path: Path) -> None:
    _notebook(tmp_path / "00_a.ipynb", 3.5)
    _notebook(tmp_path / "01_b.ipynb", 120.25)
    _notebook(tmp_path / "02_c.ipynb", None)  # papermill never finished it: left out
    times = notebook_times(tmp_path)
    assert list(times["notebook"]) == ["00_a.ipynb", "01_b.ipynb"]
    assert times["seconds"].sum() == pytest.approx(123.75)
    (tmp_path / "03_d.ipynb").write_text("{")
    with pytest.raises(ValueError, match="03_d.ipynb"):
        notebook_times(tmp_path)


def test_costs_command_writes_both_tables(profile_root: Path, capsys) -> None:
    _notebook(profile_root / "notebooks" / "03_single_task.ipynb", 60.0)
    assert costs_cmd.main(["profile=demo", f"results_dir={profile_root.parent}", "runtime.unit_workers=2"]) == 0
    out = capsys.readouterr().out
    assert "less than 31 s" in out and "03_single_task.ipynb" in out
    # 62 unit seconds over 4 cores would be 15.5 s, but the longest unit takes 32 s: that is the floor at any size
    assert "4 cores 0.5 min, 8 cores 0.5 min, 16 cores 0.5 min" in out
    units = pd.read_csv(profile_root / "costs" / "units.csv")
    assert units["total_seconds"].sum() == pytest.approx(62.0)
    assert len(pd.read_csv(profile_root / "costs" / "notebooks.csv")) == 1


def test_costs_command_says_what_is_missing(tmp_path: Path, capsys) -> None:
    assert costs_cmd.main(["profile=demo", f"results_dir={tmp_path}"]) == 1
    assert "no finished runs" in capsys.readouterr().err
