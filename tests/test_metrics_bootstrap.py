"""Per-image tables, bootstrap intervals and paired changes."""
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from m2dino.metrics import (bootstrap_ci, paired_bootstrap_change, primary_from_per_image, primary_resampled,
                            score_task)
from m2dino.metrics.bootstrap import draw_counts
from m2dino.registry import get_task


def mean_table(column, values, prefix="img"):
    return pd.DataFrame({"image_path": [f"{prefix}{i:04d}.png" for i in range(len(values))], column: values})


def test_draw_counts_are_resamples_of_n():
    c = draw_counts(7, 50, seed=3)
    assert c.shape == (50, 7) and (c.sum(1) == 7).all()
    assert np.array_equal(c, draw_counts(7, 50, seed=3)) and not np.array_equal(c, draw_counts(7, 50, seed=4))


def test_ci_contains_the_point_estimate_and_narrows_with_more_images():
    rng = np.random.default_rng(0)
    small, large = mean_table("dice", rng.beta(5, 2, 40)), mean_table("dice", rng.beta(5, 2, 1000))
    for df in (small, large):
        lo, hi = bootstrap_ci("fetal_head", df)
        assert lo < primary_from_per_image("fetal_head", df) < hi
    w_small = np.subtract(*bootstrap_ci("fetal_head", small)[::-1])
    w_large = np.subtract(*bootstrap_ci("fetal_head", large)[::-1])
    assert w_large < w_small / 3  # ~ sqrt(1000 / 40) = 5 times narrower


def test_ci_is_deterministic_per_seed():
    df = mean_table("mre", np.random.default_rng(1).gamma(2, 5, 100))
    assert bootstrap_ci("FUGC", df, seed=0) == bootstrap_ci("FUGC", df, seed=0)
    assert bootstrap_ci("FUGC", df, seed=0) != bootstrap_ci("FUGC", df, seed=1)


def test_auc_bootstrap_matches_a_sklearn_loop():
    rng = np.random.default_rng(2)
    n = 120
    y = rng.integers(0, 2, n)
    p1 = np.clip(0.3 * y + rng.uniform(0, 0.7, n), 0, 1)
    _, df = score_task("breast_2cls", list(np.stack([1 - p1, p1], 1)), list(y))
    counts = draw_counts(n, 30, seed=0)
    got = primary_resampled("breast_2cls", df, counts)
    for b in range(30):
        idx = np.repeat(np.arange(n), counts[b].astype(int))
        assert got[b] == pytest.approx(roc_auc_score(y[idx], p1[idx]))
    lo, hi = bootstrap_ci("breast_2cls", df)
    assert lo < primary_from_per_image("breast_2cls", df) < hi


def test_all_ones_weights_reproduce_the_point_estimate():
    rng = np.random.default_rng(3)
    _, df = score_task("fetal_plane_cls", list(rng.dirichlet(np.ones(6), 50)), list(rng.integers(0, 6, 50)))
    assert primary_resampled("fetal_plane_cls", df, np.ones((1, 50)))[0] == pytest.approx(
        primary_from_per_image("fetal_plane_cls", df))


def test_paired_change_is_direction_aware():
    ref, new = mean_table("mre", np.full(50, 10.0)), mean_table("mre", np.full(50, 8.0))
    out = paired_bootstrap_change("IUGC", ref, new)
    assert out["change"] == pytest.approx(0.2) and out["n"] == 50  # MRE 10 -> 8 is 20% better
    assert out["ci_low"] == pytest.approx(0.2) and out["ci_high"] == pytest.approx(0.2)
    worse = paired_bootstrap_change("IUGC", new, ref)
    assert worse["change"] == pytest.approx(-0.25)
    d = paired_bootstrap_change("lung", mean_table("dice", np.full(20, 0.5)), mean_table("dice", np.full(20, 0.6)))
    assert d["change"] == pytest.approx(0.2)


def test_paired_change_matches_images_by_path_and_pairs_resamples():
    rng = np.random.default_rng(4)
    ref = mean_table("mre", rng.gamma(2, 5, 200))
    new = ref.assign(mre=ref["mre"] * 0.9 + rng.normal(0, 0.2, 200))
    out = paired_bootstrap_change("FUGC", ref, new)
    shuffled = paired_bootstrap_change("FUGC", ref, new.sample(frac=1.0, random_state=0))
    assert out == shuffled
    assert 0 < out["ci_low"] <= out["change"] <= out["ci_high"]
    # pairing makes the interval much narrower than two independent intervals would suggest
    lo_r, hi_r = bootstrap_ci("FUGC", ref)
    assert out["ci_high"] - out["ci_low"] < (hi_r - lo_r) / primary_from_per_image("FUGC", ref)


def test_paired_change_refuses_different_image_sets():
    with pytest.raises(ValueError, match="different images"):
        paired_bootstrap_change("lung", mean_table("dice", [.5, .6]), mean_table("dice", [.5, .6], prefix="x"))


@pytest.mark.filterwarnings("ignore::m2dino.metrics.classification.UndefinedAUCWarning")  # one image, one class
@pytest.mark.parametrize("tid, pred, target", [
    ("breast_lesion", np.zeros((4, 4), np.int64), np.zeros((4, 4), np.int64)),
    ("organ_cls", np.full(6, 1 / 6), 2),
    ("uterine_fibroid_det", [0, 0, 2, 2], [0, 0, 2, 2]),
    ("IUGC", np.zeros((3, 2)), np.ones((3, 2))),
])
def test_summary_keys_follow_the_registry(tid, pred, target):
    summary, df = score_task(tid, [pred], [target])
    t = get_task(tid)
    assert list(summary) == [t.primary_metric, *t.secondary_metrics]
    assert df["image_path"].tolist() == ["img00000"]


def test_score_task_refuses_inconsistent_inputs():
    with pytest.raises(ValueError, match="2 predictions but 1 targets"):
        score_task("FUGC", [np.zeros((2, 2))] * 2, [np.zeros((2, 2))])
    with pytest.raises(ValueError, match="duplicate image paths"):
        score_task("FUGC", [np.zeros((2, 2))] * 2, [np.zeros((2, 2))] * 2, image_paths=["a", "a"])
    with pytest.raises(ValueError, match="no predictions"):
        score_task("FUGC", [], [])
    with pytest.raises(KeyError, match="unknown task"):
        score_task("nope", [1], [1])
