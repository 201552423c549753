"""Settings chosen on val (m2dino/study/budget.py): the table and the rule, on hand-made run folders."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from m2dino.study.budget import choose, experiment_name, val_table


def _run(root: Path, value: float, paradigm: str, unit: str, tasks: list[str], s: float, seconds: float) -> Path:
    d = root / f"v{value:g}" / paradigm / unit / "seed0"
    d.mkdir(parents=True)
    OmegaConf.save(OmegaConf.create({"paradigm": {"name": paradigm}, "unit": unit, "tasks": tasks}), d / "config.yaml")
    (d / "run.json").write_text(json.dumps({"best_val_score": s, "steps": 10, "train_seconds": seconds}))
    return d


def _runs(root: Path, s_by_value: dict[float, tuple[float, float, float]]) -> dict[float, list[Path]]:
    out = {}
    for v, (ts, cg, au) in s_by_value.items():
        out[v] = [_run(root, v, "single", "a", ["a"], ts, v), _run(root, v, "single", "b", ["b"], ts + 0.1, v),
                  _run(root, v, "clinical", "g", ["a", "b"], cg, 2 * v), _run(root, v, "all", "all", ["a", "b"], au, v)]
    return out


def test_table_weights_units_by_tasks_and_gives_val_delta_s(tmp_path):
    t = val_table(_runs(tmp_path, {6.0: (0.5, 0.45, 0.4)})).set_index("paradigm")
    assert t.loc["single", "val_s"] == pytest.approx(0.55) and t.loc["single", "tasks"] == 2
    assert t.loc["clinical", "val_delta_s"] == pytest.approx(-0.10) and t.loc["all", "val_delta_s"] == pytest.approx(-0.15)


def test_rule_takes_the_cheapest_value_that_keeps_accuracy_and_the_comparison(tmp_path):
    # 3 epochs loses 0.1 on AU: refused; 4 is within 0.02 everywhere: chosen over the reference 6
    t = val_table(_runs(tmp_path, {3.0: (0.5, 0.45, 0.3), 4.0: (0.49, 0.44, 0.39), 6.0: (0.5, 0.45, 0.4)}))
    assert choose(t, 6.0, 0.02) == 4.0
    # a cheaper value that keeps every score but moves Δs (TS gains, CG does not) is refused too
    t2 = val_table(_runs(tmp_path / "b", {4.0: (0.53, 0.45, 0.43), 6.0: (0.5, 0.45, 0.4)}))
    assert choose(t2, 6.0, 0.02) == 6.0
    with pytest.raises(ValueError, match="reference"):
        choose(t, 8.0)


def test_experiment_names():
    assert experiment_name("train.epochs", 6.0) == "budget/e6"
    assert experiment_name("train.batch_size", 16.0) == "budget/batch_size16"
