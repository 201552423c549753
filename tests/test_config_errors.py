"""Configuration errors exit with status 2 and a message that names the key, before anything is trained or read."""
from __future__ import annotations

import pytest

from m2dino.cli import main
from m2dino.config import ConfigError, load
from m2dino.paths import data_root


def _fails(argv: list[str], capsys) -> str:
    assert main(argv) == 2
    return capsys.readouterr().err


def test_paper_profile_without_data_root_says_it_must_point_at_the_release(capsys):
    err = _fails(["train", "profile=paper"], capsys)
    assert "data.root is not set" in err and "FMC_UIA release" in err and "Traceback" not in err
    assert "data.root is not set" in _fails(["validate", "profile=paper"], capsys)
    with pytest.raises(ConfigError, match="data.root"):  # notebooks and library callers get the same error
        data_root(load(["profile=paper"]))


def test_unknown_task_id_names_tasks(capsys):
    err = _fails(["train", "profile=smoke", "paradigm=single", "tasks=[breast_lesion,nope]"], capsys)
    assert "tasks=['breast_lesion', 'nope']: unknown task id 'nope'" in err


def test_unknown_unit_names_unit(capsys):
    assert "unit=nowhere: not a unit of paradigm 'clinical'" in _fails(
        ["train", "profile=smoke", "paradigm=clinical", "unit=nowhere"], capsys)


def test_missing_weights_file_names_model_weights_before_anything_runs(tmp_path, capsys):
    err = _fails(["train", "profile=smoke", f"model.weights={tmp_path / 'nope.pth'}", f"results_dir={tmp_path}",
                  f"data.root={tmp_path / 'no_data'}"], capsys)
    assert f"model.weights={tmp_path / 'nope.pth'}: no such file" in err
    assert list(tmp_path.iterdir()) == []  # nothing pretrained, validated or written


def test_unknown_profile_and_option_name_the_key(capsys, monkeypatch):
    assert "profile=nope: no such profile in m2dino/conf/profile/; available: demo, paper, smoke" in _fails(
        ["train", "profile=nope"], capsys)
    monkeypatch.setenv("M2DINO_PROFILE", "nope")
    assert "profile=nope (from $M2DINO_PROFILE): no such profile" in _fails(["validate"], capsys)
    assert "paradigm=nope: no such paradigm" in _fails(["train", "profile=smoke", "paradigm=nope"], capsys)
    assert "Could not override 'nokey'" in _fails(["train", "profile=smoke", "nokey=1"], capsys)


def test_training_refuses_data_without_a_test_split_before_it_starts(tmp_path, capsys):
    """The release as published has train/ and val/ only: a run would train to the end, then fail at final scoring."""
    from m2dino.checks.release_data import write_release
    from m2dino.registry import get_task

    root = write_release(tmp_path / "release", {"train": 1, "val": 1}, [get_task("breast_2cls")], scale=0.1)
    assert main(["train", "profile=smoke", "data=fmc", f"data.root={root}", "paradigm=single",
                 "tasks=[breast_2cls]", f"results_dir={tmp_path / 'results'}"]) == 1
    assert "no test split for 1 task(s) (breast_2cls)" in capsys.readouterr().err
    assert not (tmp_path / "results").exists()
