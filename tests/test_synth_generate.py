"""The written dataset: FMC_UIA layout and columns, determinism, scaling contrast, manifest skip and refusal."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from m2dino.config import load
from m2dino.registry import all_tasks, study_totals
from m2dino.synth.generate import content_hash, counts, write_dataset

TINY = ["profile=smoke", "data.image_size=24", "data.scale=0.0", "data.min_per_task=2", "data.eval_per_task=1"]
COLUMNS = {"segmentation": ["mask_path"], "classification": ["mask"],
           "detection": ["x_min", "y_min", "x_max", "y_max"]}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("a") / "ds"
    return root, write_dataset(load(TINY), root, workers=1)


def test_dataset_is_byte_identical_whatever_the_worker_count(tiny, tmp_path) -> None:
    root, man = tiny
    other = write_dataset(load(TINY), tmp_path / "ds", workers=2)
    assert other["content_hash"] == man["content_hash"] == content_hash(root)
    assert (tmp_path / "ds" / "manifest.json").read_bytes() == (root / "manifest.json").read_bytes()


def test_another_seed_gives_other_images(tmp_path) -> None:
    a = write_dataset(load(TINY + ["data.seed=1", "data.min_per_task=1"]), tmp_path / "a", workers=1)
    b = write_dataset(load(TINY + ["data.seed=2", "data.min_per_task=1"]), tmp_path / "b", workers=1)
    assert a["content_hash"] != b["content_hash"]


def test_layout_and_columns_follow_the_release(tiny) -> None:
    root, man = tiny
    for split in ("train", "val", "test"):
        csvs = sorted((root / split / "csv_files").glob("*.csv"))
        assert len(csvs) == 27
        for t in all_tasks():
            df = pd.read_csv(root / split / "csv_files" / f"{t.id}.csv")
            extra = COLUMNS.get(t.type, [f"point_{k}_xy" for k in range(1, t.num_classes + 1)])
            assert list(df.columns) == ["task_id", "task_name", "num_classes", "image_path"] + extra
            assert len(df) == man["counts"][t.id][split]
            assert (df.task_id == t.id).all() and (df.task_name == t.csv_task_name).all()
            assert (df.num_classes == t.num_classes).all()
            for _, row in df.iterrows():
                img = np.asarray(Image.open(root / split / "csv_files" / row.image_path))
                assert img.shape == (24, 24)
                if t.type == "segmentation":
                    assert row.image_path.startswith(f"../Segmentation/{['Two', 'Three', 'Four', 'Five'][t.num_classes - 2]}/")
                    mask = np.asarray(Image.open(root / split / "csv_files" / row.mask_path))
                    assert mask.shape == img.shape and mask.max() < t.num_classes
                elif t.type == "classification":
                    assert 0 <= row["mask"] < t.num_classes
                elif t.type == "detection":
                    assert 0 <= row.x_min < row.x_max <= 24 and 0 <= row.y_min < row.y_max <= 24
                else:
                    for k in range(1, t.num_classes + 1):
                        x, y = json.loads(row[f"point_{k}_xy"])
                        assert 0 <= x < 24 and 0 <= y < 24


def test_splits_hold_different_images(tiny) -> None:
    root, _ = tiny
    a = (root / "train" / "Classification" / "breast_2cls" / "images" / "00000.png").read_bytes()
    b = (root / "val" / "Classification" / "breast_2cls" / "images" / "00000.png").read_bytes()
    c = (root / "test" / "Classification" / "breast_2cls" / "images" / "00000.png").read_bytes()
    assert len({a, b, c}) == 3


def test_matching_manifest_skips_and_a_different_one_is_refused(tiny) -> None:
    root, man = tiny
    stamp = (root / "manifest.json").stat().st_mtime_ns
    assert write_dataset(load(TINY), root, workers=1) == man
    assert (root / "manifest.json").stat().st_mtime_ns == stamp
    with pytest.raises(FileExistsError, match="different manifest"):
        write_dataset(load(TINY + ["data.seed=5"]), root, workers=1)


def test_overwrite_replaces_synthetic_but_never_unmanifested_data(tmp_path) -> None:
    cfg = load(TINY + ["data.min_per_task=1"])
    root = tmp_path / "ds"
    write_dataset(cfg, root, workers=1)
    new = write_dataset(load(TINY + ["data.min_per_task=1", "data.seed=4", "runtime.overwrite=true"]), root, workers=1)
    assert json.loads((root / "manifest.json").read_text())["content_hash"] == new["content_hash"]
    real = tmp_path / "real"
    (real / "train").mkdir(parents=True)
    with pytest.raises(FileExistsError, match="no synthetic manifest"):
        write_dataset(load(TINY + ["runtime.overwrite=true"]), real, workers=1)
    assert (real / "train").exists()


@pytest.mark.parametrize("profile", ["smoke", "demo", "paper"])
def test_obstetrics_stays_data_rich_and_breast_data_scarce(profile: str) -> None:
    c = counts(load([f"profile={profile}"]))
    by_group: dict[str, int] = {}
    for t in all_tasks():
        by_group[t.group] = by_group.get(t.group, 0) + c[t.id]["train"]
    paper = study_totals()["by_group"]
    want = paper["obstetrics"] / paper["breast"]
    got = by_group["obstetrics"] / by_group["breast"]
    assert got > 2.5 and abs(got / want - 1) < 0.3, (got, want)
    # ratios between tasks survive wherever the floor does not bind
    n = {t.id: t.n_train for t in all_tasks()}
    for a in n:
        for b in n:
            if n[a] > n[b]:
                assert c[a]["train"] >= c[b]["train"]
