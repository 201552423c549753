"""Validation: one fixture per error of issue 4, each error naming the file and the CSV row; warnings; the cache."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from _data_fixtures import edit_csv, make_challenge, make_simple, noise_image
from m2dino.commands import validate as validate_cmd
from m2dino.data.errors import DataError
from m2dino.data.validate import raise_if_invalid, validate_dataset


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return make_challenge(tmp_path_factory.mktemp("template") / "ds")


@pytest.fixture
def root(template, tmp_path):
    """A fresh copy of the clean fixture dataset (copying is faster than writing the images again)."""
    return Path(shutil.copytree(template, tmp_path / "ds"))


def check(root, **kw):
    return validate_dataset(root, use_cache=False, **kw)


def assert_error(report, file: str, row: int | None, *words: str) -> None:
    """Exactly the located error exists: names ``file`` (and ``row``) and contains every word."""
    texts = [str(p) for p in report.errors]
    prefix = file if row is None else f"{file}, row {row}:"
    hits = [t for t in texts if t.startswith(prefix) and all(w in t for w in words)]
    assert hits, f"no error starting {prefix!r} with {words}; errors: {texts}"


def test_clean_dataset_has_no_errors(root):
    r = check(root)
    assert r.ok, r.format()
    assert r.n_records == 32
    s = r.summary.set_index("task")
    assert s.loc["breast_2cls", "train"] == 4 and s.loc["FUGC", "test"] == 2
    assert s.loc["breast_lesion", "size_median_hw"] == "48x64"
    assert s.loc["breast_2cls", "balance_train"] == "0:0.50 1:0.50"


def image_of(root, split, task, row):
    df = pd.read_csv(root / split / "csv_files" / f"{task}.csv", dtype=str)
    return root / split / "csv_files" / df.loc[row - 2, "image_path"]


def test_missing_image(root):
    image_of(root, "train", "breast_2cls", 3).unlink()
    assert_error(check(root), "train/csv_files/breast_2cls.csv", 3, "not found", "train_001.png")


def test_unreadable_image(root):
    image_of(root, "val", "FUGC", 2).write_bytes(b"not an image at all")
    assert_error(check(root), "val/csv_files/FUGC.csv", 2, "unreadable")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_image(root, fmt):
    p = image_of(root, "train", "thyroid_nodule_det", 4)
    noise_image(3, (48, 64)).save(p, format=fmt)
    p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2])
    assert_error(check(root), "train/csv_files/thyroid_nodule_det.csv", 4, "truncated")


def test_mask_size_differs(root):
    df = pd.read_csv(root / "train/csv_files/breast_lesion.csv")
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(root / "train/csv_files" / df.loc[1, "mask_path"])
    assert_error(check(root), "train/csv_files/breast_lesion.csv", 3, "20x20", "64x48")


def test_mask_values_outside_classes(root):
    df = pd.read_csv(root / "val/csv_files/breast_lesion.csv")
    m = np.zeros((48, 64), np.uint8)
    m[3, 3] = 5
    Image.fromarray(m).save(root / "val/csv_files" / df.loc[0, "mask_path"])
    assert_error(check(root), "val/csv_files/breast_lesion.csv", 2, "values [5]", "0..1")


@pytest.mark.parametrize("value,words", [("2", ("out of range", "0..1")), ("yes", ("not an integer",)),
                                         ("", ("missing",))])
def test_bad_class_label(root, value, words):
    edit_csv(root, "train", "breast_2cls", 5, mask=value)
    assert_error(check(root), "train/csv_files/breast_2cls.csv", 5, *words)


@pytest.mark.parametrize("value,words", [("", ("point_1_xy is missing",)), ("NaN", ("not a JSON pair",)),
                                         ("[NaN, 3]", ("not finite",)), ("12; 3", ("not JSON",)),
                                         ("[1, 2, 3]", ("not a JSON pair",)), ("[500, 3]", ("outside",))])
def test_bad_keypoints(root, value, words):
    edit_csv(root, "train", "FUGC", 3, point_1_xy=value)
    assert_error(check(root), "train/csv_files/FUGC.csv", 3, *words)


def test_wrong_keypoint_count(root):
    path = root / "test/csv_files/FUGC.csv"
    df = pd.read_csv(path, dtype=str)
    df["point_3_xy"] = ""
    df.loc[1, "point_3_xy"] = "[1, 1]"
    df.to_csv(path, index=False)
    assert_error(check(root), "test/csv_files/FUGC.csv", 3, "wrong number of keypoints", "point_3_xy")


def test_missing_keypoint_column(root):
    path = root / "val/csv_files/FUGC.csv"
    pd.read_csv(path, dtype=str).drop(columns=["point_2_xy"]).to_csv(path, index=False)
    assert_error(check(root), "val/csv_files/FUGC.csv", None, "missing CSV column", "point_2_xy")


@pytest.mark.parametrize("cells,words", [({"x_min": ""}, ("x_min is missing",)),
                                         ({"x_max": "64.5"}, ("outside",)), ({"y_min": "-1"}, ("outside",)),
                                         ({"x_min": "40", "x_max": "40"}, ("min >= max",)),
                                         ({"y_max": "nan"}, ("y_max",))])
def test_bad_box(root, cells, words):
    edit_csv(root, "train", "thyroid_nodule_det", 2, **cells)
    assert_error(check(root), "train/csv_files/thyroid_nodule_det.csv", 2, *words)


def test_unknown_task_id(root):
    edit_csv(root, "train", "breast_2cls", 4, task_id="breast_99cls")
    assert_error(check(root), "train/csv_files/breast_2cls.csv", 4, "unknown task id 'breast_99cls'")


def test_type_contradicts_registry(root):
    edit_csv(root, "train", "breast_lesion", 2, task_name="classification")
    assert_error(check(root), "train/csv_files/breast_lesion.csv", 2, "contradicts the registry", "segmentation")


def test_num_classes_contradicts_registry(root):
    edit_csv(root, "val", "breast_2cls", 3, num_classes="3")
    assert_error(check(root), "val/csv_files/breast_2cls.csv", 3, "num_classes '3'", "has 2")


def test_regression_spelling_is_accepted_in_either_case(root):
    edit_csv(root, "train", "FUGC", 2, task_name="regression")
    assert check(root).ok


def test_missing_columns(root):
    path = root / "train/csv_files/breast_lesion.csv"
    pd.read_csv(path, dtype=str).drop(columns=["mask_path"]).to_csv(path, index=False)
    assert_error(check(root), "train/csv_files/breast_lesion.csv", None, "missing CSV column", "mask_path")
    path = root / "val/csv_files/breast_2cls.csv"
    pd.read_csv(path, dtype=str).drop(columns=["image_path"]).to_csv(path, index=False)
    assert_error(check(root), "val/csv_files/breast_2cls.csv", None, "missing CSV column", "image_path")


def test_duplicate_rows(root):
    path = root / "train/csv_files/thyroid_nodule_det.csv"
    df = pd.read_csv(path, dtype=str)
    pd.concat([df, df.iloc[[1]]]).to_csv(path, index=False)
    assert_error(check(root), "train/csv_files/thyroid_nodule_det.csv", 6, "duplicate row",
                 "thyroid_nodule_det.csv, row 3")


def test_same_image_in_two_splits(root):
    shutil.copy(image_of(root, "train", "breast_lesion", 2), image_of(root, "test", "breast_lesion", 3))
    assert_error(check(root), "test/csv_files/breast_lesion.csv", 3, "same image in two splits", "(train")


def test_unknown_and_absent_requested_tasks(root):
    r = check(root, tasks=["breast_2cls", "lung"])
    assert any("task 'lung' has no training rows" in str(p) for p in r.errors)
    assert set(r.summary["task"]) == {"breast_2cls"}


def test_warnings_do_not_fail(root):
    p = image_of(root, "train", "breast_2cls", 2)
    g = np.asarray(noise_image(11, (48, 64)))
    Image.fromarray(np.stack([g, g, g], -1)).save(p)
    r = check(root)
    assert r.ok
    text = [str(w) for w in r.warnings]
    assert any("'breast_2cls': 1 RGB image(s) have three equal channels" in t for t in text), text
    assert any("has only 4 training images" in t for t in text)
    assert not any("only 4" in t for t in (str(w) for w in check(root, min_train=4).warnings))
    assert check(root).summary.set_index("task").loc["breast_2cls", "channels"] == "gray/rgb"


def test_simple_layout_errors(tmp_path):
    root = make_simple(tmp_path / "s")
    (root / "train/breast_lesion/masks/img001.png").unlink()
    df = pd.read_csv(root / "val/breast_2cls/labels.csv")
    df.loc[1, "label"] = 7
    df.to_csv(root / "val/breast_2cls/labels.csv", index=False)
    (root / "train/not_a_task").mkdir()
    r = check(root)
    assert_error(r, "train/breast_lesion/images/img001.png", None, "no mask")
    assert_error(r, "val/breast_2cls/labels.csv", 3, "out of range")
    assert_error(r, "train/not_a_task", None, "not a known task id")


def test_cache_reused_and_invalidated(root, tmp_path):
    cache = tmp_path / "cache"
    first = validate_dataset(root, cache_dir=cache)
    assert not first.cached and len(list(cache.glob("*.json"))) == 1
    again = validate_dataset(root, cache_dir=cache)
    assert again.cached and again.ok and again.key == first.key
    assert again.summary.equals(first.summary.astype(again.summary.dtypes.to_dict())) or \
        again.summary.to_dict("records") == first.summary.to_dict("records")
    edit_csv(root, "train", "breast_2cls", 2, mask="9")
    changed = validate_dataset(root, cache_dir=cache)
    assert not changed.cached and not changed.ok
    edit_csv(root, "train", "breast_2cls", 2, mask="0")
    img = image_of(root, "val", "FUGC", 2)
    img.write_bytes(b"garbage")
    os.utime(img, ns=(1, 1))
    broken = validate_dataset(root, cache_dir=cache)
    assert not broken.cached and not broken.ok


def test_raise_if_invalid(root, tmp_path):
    assert raise_if_invalid(root, cache_dir=tmp_path / "c").ok
    edit_csv(root, "train", "breast_2cls", 3, mask="5")
    with pytest.raises(DataError, match=r"train/csv_files/breast_2cls.csv, row 3: class label 5 out of range"):
        raise_if_invalid(root, cache_dir=tmp_path / "c")


def test_cli_exit_codes(root, capsys, monkeypatch, tmp_path):
    monkeypatch.setattr("m2dino.data.validate._default_cache_dir", lambda: tmp_path / "c")
    assert validate_cmd.main([f"data.root={root}", "profile=smoke"]) == 0
    out = capsys.readouterr().out
    assert "breast_lesion" in out and "OK: no errors" in out
    edit_csv(root, "val", "thyroid_nodule_det", 2, x_min="100")
    assert validate_cmd.main([f"data.root={root}", "profile=smoke"]) == 1
    out = capsys.readouterr().out
    assert "val/csv_files/thyroid_nodule_det.csv, row 2:" in out and "FAILED" in out


def test_no_layout_is_a_clear_error(tmp_path):
    (tmp_path / "train").mkdir()
    with pytest.raises(DataError, match="neither layout"):
        validate_dataset(tmp_path, use_cache=False)
    with pytest.raises(DataError, match="dataset root not found"):
        validate_dataset(tmp_path / "nope", use_cache=False)
