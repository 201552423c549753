"""The challenge's prediction format: writing, reading back, scoring, and clear errors for bad submissions."""
import json

import numpy as np
import pytest
from PIL import Image

from m2dino.metrics import SubmissionWriter, load_submission, mask_prediction_path, score_submission, score_task

SEG, CLS2, CLS3, DET, REG = "cervix_multi", "breast_2cls", "breast_3cls", "thyroid_nodule_det", "IUGC"


def make_case(rng):
    """Ground-truth records and predictions (original pixels) for one task of each type, sizes varying."""
    gt, preds = {}, {}
    sizes = [(24, 32), (30, 20), (16, 16)]
    gt[SEG], preds[SEG] = [], []
    for i, (h, w) in enumerate(sizes):
        t = rng.integers(0, 3, (h, w))
        p = np.where(rng.random((h, w)) < 0.8, t, rng.integers(0, 3, (h, w)))
        gt[SEG].append({"image_path": f"../Segmentation/Three/cervix_multi/images/{i:04d}.png",
                        "mask_path": f"../Segmentation/Three/cervix_multi/masks/{i:04d}.png",
                        "target": t, "orig_size": (h, w)})
        preds[SEG].append(p)
    for tid, c in ((CLS2, 2), (CLS3, 3)):
        n = 12
        gt[tid] = [{"image_path": f"../Classification/{tid}/{i}.jpg", "target": int(i % c), "orig_size": (40, 50)}
                   for i in range(n)]
        preds[tid] = list(rng.dirichlet(np.ones(c), n))
    gt[DET] = [{"image_path": f"../Detection/thyroid/{i}.png", "target": [2.0 + i, 3.0, 20.5, 18.0],
                "orig_size": (64, 48)} for i in range(5)]
    preds[DET] = [np.array(r["target"]) + rng.normal(0, 2, 4) * [1, 1, 0, 0] for r in gt[DET]]
    gt[REG] = [{"image_path": f"../Regression/IUGC/{i}.png", "target": rng.uniform(0, 90, (3, 2)),
                "orig_size": (100, 90)} for i in range(6)]
    preds[REG] = [r["target"] + rng.normal(0, 3, (3, 2)) for r in gt[REG]]
    return gt, preds


def write(out, gt, preds):
    with SubmissionWriter(out) as w:
        for tid, recs in gt.items():
            for r, p in zip(recs, preds[tid]):
                w.add(tid, r["image_path"], p, mask_path=r.get("mask_path"))


@pytest.fixture
def case(tmp_path):
    gt, preds = make_case(np.random.default_rng(0))
    write(tmp_path, gt, preds)
    return tmp_path, gt, preds


def test_files_follow_the_challenge_layout(case):
    out, gt, preds = case
    mask = out / "Segmentation/Three/cervix_multi/masks/0001.png"
    assert np.array_equal(np.array(Image.open(mask)), preds[SEG][1])
    assert Image.open(mask).size == (20, 30)  # (W, H): the original size
    cls_recs = json.loads((out / "classification_predictions.json").read_text())
    assert set(cls_recs[0]) == {"image_path", "task_id", "predicted_class", "predicted_probs"}
    assert cls_recs[0]["image_path"] == "../Classification/breast_2cls/0.jpg"
    assert cls_recs[0]["predicted_class"] == int(np.argmax(preds[CLS2][0]))
    det = json.loads((out / "detection_predictions.json").read_text())
    assert set(det[0]) == {"image_path", "task_id", "bbox_pixels"} and len(det[0]["bbox_pixels"]) == 4
    reg = json.loads((out / "regression_predictions.json").read_text())
    assert reg[0]["predicted_points_pixels"] == pytest.approx(preds[REG][0].reshape(-1).tolist())


def test_round_trip_scores_equal_in_memory_scores(case):
    out, gt, preds = case
    table = score_submission(out, gt, n_boot=200)
    assert set(table["task"]) == set(gt)
    for tid, recs in gt.items():
        want, _ = score_task(tid, preds[tid], [r["target"] for r in recs])
        got = table[table["task"] == tid].set_index("metric")
        for metric, value in want.items():
            assert got.loc[metric, "value"] == pytest.approx(value, nan_ok=True), (tid, metric)
        primary = got.iloc[0]
        assert primary["ci_low"] <= primary["value"] <= primary["ci_high"]
        assert got["n"].iloc[0] == len(recs)


def test_ground_truth_masks_may_be_given_as_files(case):
    out, gt, _ = case
    for i, r in enumerate(gt[SEG]):
        path = out.parent / f"gt{i}.png"
        Image.fromarray(r["target"].astype(np.uint8)).save(path)
        r["target"] = str(path)
    table = score_submission(out, {SEG: gt[SEG]}, n_boot=0)
    assert table["value"].notna().all() and table["ci_low"].isna().all()


def test_mask_path_strips_leading_parent_dirs(tmp_path):
    assert mask_prediction_path(tmp_path, "../Segmentation/Two/x/0.png") == tmp_path / "Segmentation/Two/x/0.png"
    with pytest.raises(ValueError, match="not a path relative"):
        mask_prediction_path(tmp_path, "../a/../../etc/passwd")


def test_missing_prediction_names_the_file(case):
    out, gt, _ = case
    recs = json.loads((out / "detection_predictions.json").read_text())
    (out / "detection_predictions.json").write_text(json.dumps(recs[1:]))
    with pytest.raises(ValueError, match=r"detection_predictions.json: no prediction for 1 .*thyroid/0.png"):
        load_submission(out, gt)


def test_missing_file_and_missing_mask(case):
    out, gt, _ = case
    (out / "regression_predictions.json").unlink()
    with pytest.raises(FileNotFoundError, match="regression_predictions.json: missing"):
        load_submission(out, {REG: gt[REG]})
    (out / "Segmentation/Three/cervix_multi/masks/0002.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"masks/0002.png: missing predicted mask .*1 of 3"):
        load_submission(out, {SEG: gt[SEG]})


def test_extra_and_duplicate_predictions(case):
    out, gt, _ = case
    path = out / "classification_predictions.json"
    recs = json.loads(path.read_text())
    path.write_text(json.dumps(recs + [dict(recs[0], image_path="../Classification/breast_2cls/99.jpg")]))
    with pytest.raises(ValueError, match=r"classification_predictions.json, record 24: extra prediction"):
        load_submission(out, gt)
    path.write_text(json.dumps(recs + [recs[0]]))
    with pytest.raises(ValueError, match="record 24: second prediction"):
        load_submission(out, gt)
    # records of tasks not being scored are ignored, so a full submission can be scored on a subset
    path.write_text(json.dumps(recs))
    assert len(load_submission(out, {CLS3: gt[CLS3]})[CLS3]) == 12


@pytest.mark.parametrize("edit, message", [
    (lambda r: r.update(bbox_pixels=[1, 2, 3]), "record 2: bbox_pixels must be a list of 4 finite numbers"),
    (lambda r: r.pop("bbox_pixels"), r"record 2: missing keys \['bbox_pixels'\]"),
    (lambda r: r.update(task_id="no_such_task"), "record 2: unknown task_id"),
    (lambda r: r.update(task_id="organ_cls"), "record 2: task organ_cls is a classification task"),
    (lambda r: r.update(bbox_pixels=[1, 2, "3", 4]), "record 2: bbox_pixels"),
])
def test_malformed_records_name_file_and_record(case, edit, message):
    out, gt, _ = case
    path = out / "detection_predictions.json"
    recs = json.loads(path.read_text())
    edit(recs[2])
    path.write_text(json.dumps(recs))
    with pytest.raises(ValueError, match=message):
        load_submission(out, gt)


def test_malformed_classification_records(case):
    out, gt, _ = case
    path = out / "classification_predictions.json"
    recs = json.loads(path.read_text())
    bad = [dict(r) for r in recs]
    bad[13]["predicted_probs"] = [0.5, 0.5, 0.5]  # breast_3cls
    path.write_text(json.dumps(bad))
    with pytest.raises(ValueError, match="record 13: predicted_probs sum to 1.5"):
        load_submission(out, gt)
    bad = [dict(r) for r in recs]
    bad[0]["predicted_class"] = 2
    path.write_text(json.dumps(bad))
    with pytest.raises(ValueError, match=r"record 0: predicted_class must be an integer in 0..1"):
        load_submission(out, gt)
    path.write_text("[{not json")
    with pytest.raises(ValueError, match="classification_predictions.json: not valid JSON"):
        load_submission(out, gt)


def test_bad_masks_name_the_file(case):
    out, gt, _ = case
    path = out / "Segmentation/Three/cervix_multi/masks/0000.png"
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(path)
    with pytest.raises(ValueError, match=r"masks/0000.png: predicted mask is 10x10 \(HxW\), the original image is 24x32"):
        load_submission(out, gt)
    Image.fromarray(np.full((24, 32), 7, np.uint8)).save(path)
    with pytest.raises(ValueError, match=r"masks/0000.png: class indices \[7\] outside 0..2"):
        load_submission(out, gt)
    Image.fromarray(np.zeros((24, 32, 3), np.uint8)).save(path)
    with pytest.raises(ValueError, match="masks/0000.png: predicted mask must be a single-channel PNG"):
        load_submission(out, gt)


def test_writer_refuses_bad_predictions(tmp_path):
    w = SubmissionWriter(tmp_path)
    with pytest.raises(ValueError, match="needs the mask_path"):
        w.add(SEG, "a.png", np.zeros((4, 4), np.int64))
    with pytest.raises(ValueError, match="3 probabilities for 2 classes"):
        w.add(CLS2, "a.png", [0.2, 0.3, 0.5])
    w.add(DET, "a.png", [0, 0, 1, 1])
    with pytest.raises(ValueError, match="added twice"):
        w.add(DET, "a.png", [0, 0, 1, 1])
    assert [p.name for p in w.close()] == ["detection_predictions.json"]
