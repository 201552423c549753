"""Classification metrics against hand-computed cases, including the degenerate AUC cases."""
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from m2dino.metrics import classification as cls
from m2dino.metrics import primary_from_per_image, score_task

# 3-class example; per-class one-vs-rest AUC counted by hand from the pairs (ties count 1/2):
# class 0: 7/8, class 1: 6/8, class 2: 8/8 -> macro 0.875
P3 = np.array([[.7, .2, .1], [.4, .4, .2], [.2, .5, .3], [.5, .3, .2], [.1, .3, .6], [.3, .3, .4]])
Y3 = np.array([0, 0, 1, 1, 2, 2])


def binary_probs(p1):
    p1 = np.asarray(p1, float)
    return np.stack([1 - p1, p1], axis=1)


def test_binary_auc_uses_the_positive_column():
    y = np.array([0, 0, 1, 1])
    probs = binary_probs([.1, .4, .35, .8])  # positives beat 3 of the 4 (pos, neg) pairs
    assert cls.auc(y, probs) == pytest.approx(0.75)
    assert cls.auc(y, probs[:, ::-1]) == pytest.approx(0.25)


def test_binary_auc_ties_count_half():
    assert cls.auc(np.array([0, 1]), binary_probs([.5, .5])) == pytest.approx(0.5)


def test_multiclass_auc_is_macro_one_vs_rest():
    assert cls.auc(Y3, P3) == pytest.approx(0.875)
    assert cls.auc(Y3, P3) == pytest.approx(roc_auc_score(Y3, P3, multi_class="ovr", average="macro"))


def test_single_class_in_truth_gives_nan_with_a_warning():
    with pytest.warns(cls.UndefinedAUCWarning, match="single class"):
        assert np.isnan(cls.auc(np.array([1, 1, 1]), binary_probs([.2, .5, .9])))
    with pytest.warns(cls.UndefinedAUCWarning):
        summary, _ = score_task("breast_3cls", list(P3[[0, 2]]), [0, 0])
    assert np.isnan(summary["auc"]) and summary["accuracy"] == 0.5  # the rest is still scored


def test_multiclass_with_a_class_absent_from_truth_averages_the_present_classes():
    # rows 0-3 only (labels 0 and 1): class 0 AUC 3/4, class 1 AUC 3/4; class 2 has no positive
    with pytest.warns(cls.UndefinedAUCWarning, match=r"classes \[2\] are absent"):
        assert cls.auc(Y3[:4], P3[:4]) == pytest.approx(0.75)


def test_accuracy_f1_mcc_by_hand():
    y = np.array([0, 0, 0, 1])
    pred = np.array([0, 0, 1, 1])
    probs = binary_probs([.1, .2, .6, .9])
    m = cls.metrics(y, probs, pred)
    assert m["accuracy"] == pytest.approx(0.75)
    assert m["f1_macro"] == pytest.approx((0.8 + 2 / 3) / 2)  # class 0: P 1, R 2/3; class 1: P 1/2, R 1
    assert m["f1_weighted"] == pytest.approx((3 * 0.8 + 2 / 3) / 4)
    assert m["mcc"] == pytest.approx(2 / np.sqrt(12))  # TP 1, TN 2, FP 1, FN 0
    assert m["auc"] == pytest.approx(1.0)


def test_submitted_predicted_class_is_scored_not_the_argmax():
    preds = [{"probs": [.9, .1], "predicted_class": 1}, {"probs": [.2, .8], "predicted_class": 1}]
    summary, df = score_task("lung_2cls", preds, [0, 1])
    assert summary["accuracy"] == 0.5 and df["pred"].tolist() == [1, 1]
    summary, _ = score_task("lung_2cls", [p["probs"] for p in preds], [0, 1])
    assert summary["accuracy"] == 1.0


def test_per_image_table_recomputes_auc_on_any_subset():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 6, 80)
    p = rng.dirichlet(np.ones(6), 80)
    summary, df = score_task("organ_cls", list(p), list(y), image_paths=[f"i{k}.png" for k in range(80)])
    assert list(summary) == ["auc", "accuracy", "f1_macro", "f1_weighted", "mcc"]
    assert primary_from_per_image("organ_cls", df) == pytest.approx(summary["auc"])
    sub_summary, _ = score_task("organ_cls", list(p[::2]), list(y[::2]))
    assert primary_from_per_image("organ_cls", df.iloc[::2]) == pytest.approx(sub_summary["auc"])


@pytest.mark.parametrize("num_classes", [2, 4])
def test_vectorised_weighted_auc_matches_sklearn_on_resamples(num_classes):
    rng = np.random.default_rng(2)
    n = 60
    y = rng.integers(0, num_classes, n)
    p = rng.dirichlet(np.ones(num_classes), n).round(1)  # rounding creates ties
    p /= p.sum(1, keepdims=True)
    counts = np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(10)]).astype(float)
    got = cls.auc_weighted(y, p, counts)
    for b in range(10):
        idx = np.repeat(np.arange(n), counts[b].astype(int))
        yb, pb = y[idx], p[idx]
        want = roc_auc_score(yb, pb[:, 1]) if num_classes == 2 else np.mean(
            [roc_auc_score(yb == c, pb[:, c]) for c in np.unique(yb)])
        assert got[b] == pytest.approx(want)


def test_weighted_auc_is_nan_for_a_single_class_resample():
    w = np.array([[2.0, 0.0, 1.0, 0.0]])  # draws only the two negatives
    assert np.isnan(cls.auc_weighted(np.array([0, 1, 0, 1]), binary_probs([.1, .9, .2, .8]), w)[0])


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match=r"\[N, 3\]"):
        score_task("breast_3cls", [[.5, .5]], [0])
    with pytest.raises(ValueError, match="outside 0..2"):
        score_task("breast_3cls", [[.2, .3, .5]], [3])
    with pytest.raises(ValueError, match="NaN"):
        score_task("breast_2cls", [[np.nan, 1.0]], [0])
