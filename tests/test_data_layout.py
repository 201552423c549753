"""Reading both layouts into records."""
from __future__ import annotations

import pandas as pd
import pytest

from _data_fixtures import make_challenge, make_simple
from m2dino import registry
from m2dino.data import layout
from m2dino.data.errors import DataError


def test_challenge_records(tmp_path):
    root = make_challenge(tmp_path)
    s = layout.scan(root)
    assert s.layout == "challenge" and not s.problems
    assert len(s.records) == 32
    r = next(r for r in s.records if r.task_id == "FUGC" and r.split == "val" and r.row == 3)
    csv = pd.read_csv(root / "val/csv_files/FUGC.csv", dtype=str)
    assert r.image_path == csv.loc[1, "image_path"]  # exactly the CSV's text
    assert r.image == (root / "val/csv_files" / csv.loc[1, "image_path"]).resolve() and r.image.is_file()
    assert layout.parse_points(r, registry.get_task("FUGC")) == [[6.0, 6.0], [13.0, 15.0]]
    seg = next(r for r in s.records if r.task_id == "breast_lesion")
    assert seg.mask.is_file() and seg.mask_path.startswith("../Segmentation/Two/")
    assert r.where(root) == "val/csv_files/FUGC.csv, row 3"


def test_one_csv_may_hold_several_tasks_and_any_name(tmp_path):
    root = make_challenge(tmp_path, tasks=("breast_2cls", "thyroid_nodule_det"), counts={"train": 3, "val": 1})
    d = root / "train/csv_files"
    both = pd.concat([pd.read_csv(d / "breast_2cls.csv", dtype=str), pd.read_csv(d / "thyroid_nodule_det.csv",
                                                                                 dtype=str)])
    (d / "breast_2cls.csv").unlink()
    (d / "thyroid_nodule_det.csv").unlink()
    both.to_csv(d / "anything.csv", index=False)
    recs = layout.read_records(root)
    train = [r for r in recs if r.split == "train"]
    assert {r.task_id for r in train} == {"breast_2cls", "thyroid_nodule_det"} and len(train) == 6
    assert [r.row for r in train] == [2, 3, 4, 5, 6, 7]
    assert train[4].fields["x_min"] == "11"


def test_tasks_filter(tmp_path):
    root = make_challenge(tmp_path)
    recs = layout.read_records(root, ["FUGC"])
    assert {r.task_id for r in recs} == {"FUGC"} and len(recs) == 8


def test_simple_layout(tmp_path):
    root = make_simple(tmp_path)
    s = layout.scan(root)
    assert s.layout == "simple" and not s.problems and len(s.records) == 32
    seg = [r for r in s.records if r.task_id == "breast_lesion" and r.split == "train"]
    assert [r.image_path for r in seg] == [f"images/img{i:03d}.png" for i in range(4)]
    assert all(r.mask.name == r.image.name for r in seg)
    cls = next(r for r in s.records if r.task_id == "breast_2cls" and r.row == 3)
    assert cls.fields["label"] == "1" and cls.image_path == "images/img001.jpg"


def test_read_records_raises_on_structural_problems(tmp_path):
    root = make_challenge(tmp_path, tasks=("breast_2cls",))
    p = root / "train/csv_files/breast_2cls.csv"
    pd.read_csv(p, dtype=str).drop(columns=["mask"]).to_csv(p, index=False)
    with pytest.raises(DataError, match=r"train/csv_files/breast_2cls.csv: missing CSV column\(s\) \['mask'\]"):
        layout.read_records(root)
