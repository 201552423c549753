"""Box IoU and mean radial error in original pixels, against hand-computed cases."""
import numpy as np
import pytest
import torch

from m2dino.metrics import primary_from_per_image, score_task
from m2dino.metrics.detection import iou_per_image


@pytest.mark.parametrize("pred, true, want", [
    ([0, 0, 10, 10], [0, 0, 10, 10], 1.0),          # identical
    ([0, 0, 10, 10], [20, 20, 30, 30], 0.0),        # disjoint
    ([0, 0, 10, 10], [10, 0, 20, 10], 0.0),         # sharing an edge only
    ([5, 5, 15, 15], [0, 0, 20, 20], 100 / 400),    # nested
    ([0, 0, 10, 10], [5, 0, 15, 10], 50 / 150),     # half overlap
    ([3, 3, 3, 3], [3, 3, 3, 3], 0.0),              # zero-area union: the challenge scores 0
])
def test_box_iou_by_hand(pred, true, want):
    assert iou_per_image(np.array([pred], float), np.array([true], float))[0] == pytest.approx(want)


def test_iou_is_averaged_over_images_and_pairs_boxes_by_image():
    preds = [np.array([0, 0, 10, 10]), torch.tensor([5, 5, 15, 15.0])]
    trues = [[0, 0, 10, 10], [0, 0, 20, 20]]
    summary, df = score_task("thyroid_nodule_det", preds, trues)
    assert list(summary) == ["iou"]
    assert df["iou"].tolist() == pytest.approx([1.0, 0.25])
    assert summary["iou"] == pytest.approx(0.625) == primary_from_per_image("thyroid_nodule_det", df)


def test_iou_chunks_agree_with_unchunked():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 100, (1100, 2, 2))  # more than one chunk of 1024
    boxes = np.concatenate([xy.min(1), xy.max(1)], axis=1)
    other = boxes + rng.normal(0, 5, boxes.shape)
    other[:, 2:] = np.maximum(other[:, 2:], other[:, :2])
    got = iou_per_image(boxes, other)
    assert got[1050] == pytest.approx(iou_per_image(boxes[1050:1051], other[1050:1051])[0])
    assert got[-1] == pytest.approx(iou_per_image(boxes[-1:], other[-1:])[0])


def test_inverted_or_malformed_boxes_are_refused():
    with pytest.raises(ValueError, match="x_min <= x_max"):
        score_task("thyroid_nodule_det", [[10, 0, 0, 10]], [[0, 0, 10, 10]])
    with pytest.raises(ValueError, match=r"\[N, 4\]"):
        score_task("thyroid_nodule_det", [[0, 0, 10]], [[0, 0, 10, 10]])


def test_mean_radial_error_in_pixels():
    preds = [np.array([[0, 0], [10, 10]]), torch.tensor([[6.0, 8.0], [0.0, 0.0]])]
    trues = [np.array([[3, 4], [10, 10]]), np.zeros((2, 2))]
    summary, df = score_task("fetal_femur", preds, trues, image_paths=["a", "b"], orig_sizes=[(30, 40), (60, 80)])
    assert df["mre"].tolist() == pytest.approx([2.5, 5.0])  # (5 + 0) / 2 and (10 + 0) / 2
    assert summary == {"mre": pytest.approx(3.75)}
    assert df[["height", "width"]].values.tolist() == [[30, 40], [60, 80]]


def test_regression_needs_the_task_keypoint_count():
    with pytest.raises(ValueError, match=r"\[N, 3, 2\]"):
        score_task("IUGC", [np.zeros((2, 2))], [np.zeros((2, 2))])
