"""The synthetic benchmark and the real-data loader together: what the generator writes, the loader reads unchanged."""
import json

import numpy as np
import pytest

from m2dino.config import load
from m2dino.data.build import build_datasets, build_loader
from m2dino.data.coords import target_to_original
from m2dino.data.validate import validate_dataset
from m2dino.registry import task_ids
from m2dino.synth.generate import write_dataset


@pytest.fixture(scope="module")
def smoke_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    cfg = load(["profile=smoke", f"data.root={root}"])
    write_dataset(cfg, root, workers=1, progress=False)
    return cfg, root


def test_generated_dataset_validates_clean(smoke_root):
    _, root = smoke_root
    report = validate_dataset(root, use_cache=False)
    assert report.errors == [], report.errors[:3]
    assert sorted(report.summary["task"]) == sorted(task_ids())


@pytest.mark.parametrize("task", ["fetal_head", "breast_3cls", "thyroid_nodule_det", "IUGC"])
def test_loader_reads_generated_items_and_maps_targets_back_to_pixels(smoke_root, task):
    cfg, _ = smoke_root
    ds = build_datasets(cfg, [task], "test")[task]
    item = ds[0]
    assert item["image"].shape == (3, cfg.data.image_size, cfg.data.image_size)
    rec = ds.records[0]
    batch = next(iter(build_loader(cfg, {task: ds}, train=False)))
    assert batch["task_id"] == task and batch["image"].shape[0] >= 1
    if rec.type == "detection":
        want = [float(rec.fields[k]) for k in ("x_min", "y_min", "x_max", "y_max")]
    elif rec.type == "regression":
        want = [json.loads(rec.fields[f"point_{k}_xy"]) for k in range(1, len(rec.fields) + 1)]
    else:
        return
    back = target_to_original(rec.type, item["target"], item["meta"]["orig_size"])
    np.testing.assert_allclose(back, np.asarray(want, dtype=float).reshape(back.shape), atol=1e-3)
