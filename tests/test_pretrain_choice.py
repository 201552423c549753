"""Choices about the backbone and the generator read val, never test: the probes, the budget rule, the calibration."""
import numpy as np
import pandas as pd
import pytest
import torch

from m2dino.config import load
from m2dino.paths import data_root
from m2dino.pretrain import choice, probe
from m2dino.pretrain.loop import create_backbone
from m2dino.registry import all_tasks
from m2dino.synth import calibration
from m2dino.synth.generate import write_dataset

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A two-task smoke dataset (classification + regression) in its own folder."""
    root = tmp_path_factory.mktemp("data")
    cfg = load(["profile=smoke", f"data.root={root}", "data.min_per_task=4", "data.eval_per_task=4",
                "plan.probe.tasks=[organ_cls,fetal_femur]", "plan.probe.n_boot=50"])
    write_dataset(cfg, root, workers=1)
    return cfg


def test_probes_fit_on_train_and_score_on_val_only(tiny, monkeypatch):
    asked = []
    real = probe.load_split

    def spy(cfg, task_id, split):
        asked.append(split)
        return real(cfg, task_id, split)

    monkeypatch.setattr(probe, "load_split", spy)
    torch.manual_seed(0)
    per_image = probe.run_probes(tiny, {"random": create_backbone(tiny)})
    assert probe.SPLIT == "val" and set(asked) == {"train", "val"}
    summary = probe.summarise(pd.concat([per_image, per_image.assign(backbone="same")]), "random", "same", n_boot=50)
    assert (summary.split == "val").all() and (summary.n == 4).all()
    assert (summary.change.abs() < 1e-12).all()  # a backbone against itself: no change


def test_calibration_proxy_reads_train_and_val_only(tiny, monkeypatch):
    opened = []
    real = calibration._load

    def spy(root, split, task_id):
        opened.append(split)
        return real(root, split, task_id)

    monkeypatch.setattr(calibration, "_load", spy)
    four = [t for t in all_tasks() if t.id in ("organ_cls", "fetal_head", "thyroid_nodule_det", "fetal_femur")]
    monkeypatch.setattr(calibration, "all_tasks", lambda: four)
    scores = calibration.proxy_scores(data_root(tiny))
    assert calibration.SPLIT == "val" and set(opened) == {"train", "val"}
    assert set(scores.task) <= {"organ_cls", "fetal_head", "thyroid_nodule_det", "fetal_femur"}
    boxes_points = scores.set_index("task").loc[["thyroid_nodule_det", "fetal_femur"]]
    assert list(boxes_points.metric) == ["iou", "mre"] and boxes_points[["value", "trivial"]].notna().all().all()


def test_calibration_box_and_keypoint_scores_on_hand_made_cases():
    box = np.array([[0.0, 0.0, 10.0, 10.0]])
    assert calibration._score("detection", box, box) == 1.0
    assert calibration._score("detection", box + [5, 0, 5, 0], box) == pytest.approx(50 / 150)
    pts = np.array([[[0.0, 0.0], [10.0, 10.0]]])  # two keypoints (0, 0) and (10, 10)
    assert calibration._score("regression", pts + [[3, 4], [0, 0]], pts) == pytest.approx(2.5)  # (5 + 0) / 2


def _comparisons(rows):
    return pd.DataFrame(rows, columns=["reference", "candidate", "task", "change_hi"])


def test_smallest_budget_not_worse_than_the_largest():
    rows = [("s800", "s200", "a", -0.01), ("s800", "s200", "b", 0.2),  # s200 worse on a: CI below 0
            ("s800", "s400", "a", 0.05), ("s800", "s400", "b", 0.3)]
    assert choice.smallest_not_worse(_comparisons(rows), "s800", ["s200", "s400", "s800"]) == "s400"
    rows[0] = ("s800", "s200", "a", 0.0)  # touching 0 is not below it
    assert choice.smallest_not_worse(_comparisons(rows), "s800", ["s200", "s400", "s800"]) == "s200"
    worse = [("s800", b, "a", -0.1) for b in ("s200", "s400")]
    assert choice.smallest_not_worse(_comparisons(worse), "s800", ["s200", "s400", "s800"]) == "s800"
    with pytest.raises(ValueError, match="no comparison of s100"):
        choice.smallest_not_worse(_comparisons(rows), "s800", ["s100"])


def test_variant_spec():
    assert choice.parse_variant("d=dino:235:64") == ("d", {"objective": "dino", "steps": 235, "batch_size": 64})
    assert choice.parse_variant("r=none:0") == ("r", {"objective": "none", "steps": 0})
    with pytest.raises(ValueError, match="name=objective:steps"):
        choice.parse_variant("mim400")
