"""Per-task datasets: the item contract, a clean round trip back to the CSV's pixels, caching, subsampling."""
from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from _data_fixtures import make_challenge
from m2dino import registry
from m2dino.config import load
from m2dino.data import layout
from m2dino.data.build import build_datasets, build_loader
from m2dino.data.coords import target_to_original
from m2dino.data.dataset import TaskDataset, collate_one_task, subsample
from m2dino.data.errors import DataError


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return make_challenge(tmp_path_factory.mktemp("ds"), counts={"train": 6, "val": 2}, size_hw=(48, 80))


def test_round_trip_to_original_pixels(root):
    """records -> items (no augmentation) -> predictions-as-targets mapped back == the CSV's values."""
    recs = [r for r in layout.read_records(root) if r.split == "train"]
    for tid in ("breast_lesion", "breast_2cls", "thyroid_nodule_det", "FUGC"):
        task = registry.get_task(tid)
        ds = TaskDataset(recs, task, image_size=32, train=False)
        csv = pd.read_csv(root / "train/csv_files" / f"{tid}.csv", dtype=str)
        assert len(ds) == len(csv) == 6
        for i in range(len(ds)):
            item = ds[i]
            meta, target, row = item["meta"], item["target"], csv.loc[i]
            assert item["image"].shape == (3, 32, 32) and item["image"].dtype == torch.float32
            assert meta == {"task_id": tid, "image_path": row["image_path"], "orig_size": (48, 80), "index": i}
            back = target_to_original(task.type, target, meta["orig_size"])
            if task.type == "classification":
                assert target.dtype == torch.int64 and target.item() == int(row["mask"])
            elif task.type == "detection":
                want = torch.tensor([float(row[c]) for c in layout.BOX_COLUMNS])
                assert target.shape == (4,) and target.dtype == torch.float32 and (0 <= target).all()
                assert np.allclose(back, want.numpy(), atol=1e-3)
            elif task.type == "regression":
                want = torch.tensor([json.loads(row[c]) for c in layout.point_columns(2)], dtype=torch.float32)
                assert target.shape == (2, 2) and np.allclose(back, want.numpy(), atol=1e-3)
            else:
                truth = np.asarray(Image.open(root / "train/csv_files" / row["mask_path"]))
                assert target.shape == (32, 32) and target.dtype == torch.int64
                agree = (back == truth).mean()
                assert agree > 0.93, agree  # nearest resizing down and up again loses only the boundary


def test_cache_gives_the_same_items_and_augmentation_changes_them(root):
    recs = layout.read_records(root, ["thyroid_nodule_det"])
    a = TaskDataset(recs, "thyroid_nodule_det", 32, cache_in_memory=False)
    b = TaskDataset(recs, "thyroid_nodule_det", 32, cache_in_memory=True)
    assert all(torch.equal(a[i]["image"], b[i]["image"]) and torch.equal(a[i]["target"], b[i]["target"])
               for i in range(len(a)))
    torch.manual_seed(0)
    c = TaskDataset(recs, "thyroid_nodule_det", 32, train=True, cache_in_memory=True)
    assert not torch.equal(c[0]["image"], b[0]["image"])
    assert ((0 <= c[0]["target"]) & (c[0]["target"] <= 1)).all()


def test_fraction_is_deterministic_and_nested(root):
    recs = [r for r in layout.read_records(root, ["breast_2cls"])]
    half = subsample(recs, 0.5, seed=0)
    assert len(half) == math.ceil(0.5 * len(recs)) and half == subsample(recs, 0.5, seed=0)
    assert set(map(id, subsample(recs, 0.25, seed=0))) <= set(map(id, half))
    assert half != subsample(recs, 0.5, seed=5)
    with pytest.raises(ValueError):
        subsample(recs, 0.0, 0)


def test_collate_refuses_mixed_tasks(root):
    recs = layout.read_records(root)
    a = TaskDataset(recs, "breast_2cls", 32)
    b = TaskDataset(recs, "FUGC", 32)
    batch = collate_one_task([a[0], a[1]])
    assert batch["task_id"] == "breast_2cls" and batch["target"].shape == (2,) and len(batch["meta"]) == 2
    with pytest.raises(ValueError, match="one task"):
        collate_one_task([a[0], b[0]])


def test_a_missing_image_is_an_error_never_a_skip(tmp_path):
    root = make_challenge(tmp_path, tasks=("breast_2cls",), counts={"train": 3})
    recs = layout.read_records(root)
    recs[1].image.unlink()
    ds = TaskDataset(recs, "breast_2cls", 16)
    with pytest.raises(DataError, match=r"train/csv_files/breast_2cls.csv, row 3: image not found"):
        ds[1]


def test_build_datasets_and_loader(root, monkeypatch, tmp_path):
    root = shutil.copytree(root, tmp_path / "ds")  # this test breaks its copy at the end
    monkeypatch.setattr("m2dino.data.validate._default_cache_dir", lambda: tmp_path / "c")
    cfg = load(["profile=smoke", f"data.root={root}", "data.fraction=0.5", "train.batch_size=2"])
    tasks = ["breast_lesion", "FUGC"]
    train = build_datasets(cfg, tasks, "train")
    assert {t: len(d) for t, d in train.items()} == {"breast_lesion": 3, "FUGC": 3}
    loader = build_loader(cfg, train, train=True)
    loader.batch_sampler.set_epoch(0)
    batches = list(loader)
    assert len(batches) == 4 and sorted(b["task_id"] for b in batches) == ["FUGC"] * 2 + ["breast_lesion"] * 2
    seg = next(b for b in batches if b["task_id"] == "breast_lesion")
    assert seg["image"].shape[1:] == (3, 32, 32) and seg["target"].dtype == torch.int64
    val = build_datasets(cfg, tasks, "val")
    assert {t: len(d) for t, d in val.items()} == {"breast_lesion": 2, "FUGC": 2}  # fraction: training only
    # training refuses a dataset with errors
    p = root / "train/csv_files/FUGC.csv"
    df = pd.read_csv(p, dtype=str)
    df.loc[0, "point_1_xy"] = "oops"
    df.to_csv(p, index=False)
    with pytest.raises(DataError, match="refusing to train"):
        build_datasets(cfg, tasks, "train")


def test_loader_is_deterministic_given_the_seed(root, monkeypatch, tmp_path):
    monkeypatch.setattr("m2dino.data.validate._default_cache_dir", lambda: tmp_path / "c")
    cfg = load(["profile=smoke", f"data.root={root}", "train.batch_size=4"])

    def epoch_sums(epoch: int) -> list:
        torch.manual_seed(0)  # augmentation draws from torch's RNG (in workers: seeded from the loader's generator)
        loader = build_loader(cfg, build_datasets(cfg, ["breast_2cls", "FUGC"], "train"), train=True)
        loader.batch_sampler.set_epoch(epoch)
        return [(b["task_id"], round(b["image"].sum().item(), 3)) for b in loader]

    assert epoch_sums(0) == epoch_sums(0)
    assert epoch_sums(0) != epoch_sums(1)
