"""The trivial references (fitted on the training split alone), the headroom score, the paired beats-trivial
criterion and model selection by the headroom score, on hand-made cases."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from m2dino.metrics import score_task
from m2dino.metrics.bootstrap import beats_trivial, paired_difference
from m2dino.metrics.headroom import headroom_score
from m2dino.train.evaluation import PRIOR_MASK_SIDE, selection_score, trivial_fit, trivial_predict


def test_segmentation_prior_mask_is_the_pixelwise_majority_mapped_to_each_size() -> None:
    a = np.zeros((4, 4), dtype=np.int64)
    a[:, 2:] = 1  # right half class 1
    b = a.copy()
    b[:2, :] = 2  # top half class 2, bottom right still 1
    c = a.copy()  # the majority: a and c agree everywhere
    fitted = trivial_fit("cervix_multi", [a, b, c])
    assert fitted.shape == (PRIOR_MASK_SIDE, PRIOR_MASK_SIDE)
    assert np.array_equal(trivial_predict("cervix_multi", fitted, (4, 4)), a)
    # masks of other sizes are voted on the same canonical grid; the prior is mapped to each image's own size
    big = np.kron(b, np.ones((3, 3), dtype=np.int64))  # 12 x 12, same layout as b
    fitted = trivial_fit("cervix_multi", [b, big, a])
    assert np.array_equal(trivial_predict("cervix_multi", fitted, (8, 8)), np.kron(b, np.ones((2, 2), dtype=np.int64)))
    out = trivial_predict("cervix_multi", fitted, (6, 10))
    assert out.shape == (6, 10) and out[0, 0] == 2 and out[-1, -1] == 1 and out[-1, 0] == 0


def test_segmentation_prior_mask_is_not_empty_when_the_foreground_dominates() -> None:
    full = np.ones((5, 5), dtype=np.int64)
    fitted = trivial_fit("fetal_head", [full, full, np.zeros((5, 5), dtype=np.int64)])
    pred = trivial_predict("fetal_head", fitted, (5, 5))
    summary, _ = score_task("fetal_head", [pred], [full])
    assert pred.all() and summary["dice"] == pytest.approx(1.0)


def test_classification_majority_class_has_auc_one_half() -> None:
    fitted = trivial_fit("breast_3cls", [0, 2, 2, 1, 2])
    assert np.allclose(fitted, [0.2, 0.2, 0.6])
    preds = [trivial_predict("breast_3cls", fitted, (10, 10)) for _ in range(6)]
    summary, _ = score_task("breast_3cls", preds, [0, 1, 2, 2, 1, 0])
    assert summary["auc"] == pytest.approx(0.5)
    assert summary["accuracy"] == pytest.approx(2 / 6)  # always class 2, the majority


def test_detection_and_regression_predict_the_mean_in_original_pixels() -> None:
    boxes = [np.array([0.1, 0.2, 0.3, 0.4]), np.array([0.3, 0.4, 0.5, 0.8])]
    fitted = trivial_fit("thyroid_nodule_det", boxes)
    assert np.allclose(trivial_predict("thyroid_nodule_det", fitted, (100, 200)), [40, 30, 80, 60])
    pts = [np.array([[0.0, 0.0], [1.0, 1.0]]), np.array([[0.5, 0.25], [0.5, 0.5]])]
    fitted = trivial_fit("FUGC", pts)
    assert np.allclose(trivial_predict("FUGC", fitted, (100, 200)), [[50, 12.5], [150, 75]])


def test_trivial_fit_refuses_no_training_targets() -> None:
    with pytest.raises(ValueError, match="FUGC"):
        trivial_fit("FUGC", [])


def test_headroom_score_on_hand_made_cases() -> None:
    assert headroom_score(0.0, 0.2, "dice") == pytest.approx(-0.25)  # a TS score of 0 is below the trivial one
    assert headroom_score(0.6, 0.2, "dice") == pytest.approx(0.5)
    assert headroom_score(0.5, 0.5, "auc") == 0.0  # AUC at chance
    assert headroom_score(1.0, 0.5, "auc") == 1.0
    assert headroom_score(4.0, 4.0, "mre") == 0.0  # MRE equal to the trivial one
    assert headroom_score(1.0, 4.0, "mre") == pytest.approx(0.75)  # = 1 - MRE / MRE_trivial
    assert headroom_score(0.0, 4.0, "mre") == 1.0
    assert np.isnan(headroom_score(0.9, 1.0, "iou"))  # the trivial predictor is already perfect
    with pytest.raises(ValueError, match="hd95"):
        headroom_score(1.0, 2.0, "hd95")


def _table(col: str, values) -> pd.DataFrame:
    return pd.DataFrame({"image_path": [f"i{k:03d}" for k in range(len(values))], col: values})


def test_beats_trivial_is_a_paired_interval_above_zero() -> None:
    rng = np.random.default_rng(0)
    base = rng.uniform(0.2, 0.8, 60)
    # a tiny but consistent gain: the unpaired intervals overlap, the paired one lies above 0
    better = beats_trivial("thyroid_nodule_det", _table("iou", base + 0.01), _table("iou", base), n_boot=500)
    assert better["beats"] and better["diff_low"] > 0
    assert better["model"] == pytest.approx(base.mean() + 0.01) and better["trivial"] == pytest.approx(base.mean())
    same = beats_trivial("thyroid_nodule_det", _table("iou", base), _table("iou", base), n_boot=200)
    assert not same["beats"]
    # MRE: lower is better, so the difference is trivial - model
    d = paired_difference("FUGC", _table("mre", base * 10), _table("mre", base * 5), n_boot=200)
    assert d["diff"] > 0 and d["ci_low"] > 0
    worse = beats_trivial("FUGC", _table("mre", base * 10), _table("mre", base * 5), n_boot=200)
    assert not worse["beats"] and worse["diff_high"] < 0
    # the images must match
    with pytest.raises(ValueError, match="different images"):
        beats_trivial("FUGC", _table("mre", base[:-1]), _table("mre", base))


def test_model_selection_weighs_every_task_by_its_headroom() -> None:
    """MRE counts as much as Dice: halving the trivial MRE moves the score as much as going half-way to Dice 1."""
    def res(metric: str, value: float):
        return {metric: value}, pd.DataFrame()

    trivial = {"fetal_head": res("dice", 0.5), "FUGC": res("mre", 10.0), "organ_cls": res("auc", 0.5)}
    a = {"fetal_head": res("dice", 0.75), "FUGC": res("mre", 10.0), "organ_cls": res("auc", 0.5)}
    b = {"fetal_head": res("dice", 0.5), "FUGC": res("mre", 5.0), "organ_cls": res("auc", 0.5)}
    assert selection_score(a, trivial) == pytest.approx(0.5 / 3)
    assert selection_score(b, trivial) == pytest.approx(selection_score(a, trivial))
    c = {**a, "organ_cls": res("auc", float("nan"))}  # an undefined AUC is left out
    assert selection_score(c, trivial) == pytest.approx(0.25)
