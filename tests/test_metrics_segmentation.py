"""Segmentation metrics against hand-computed cases and the FMC_UIA evaluator's conventions."""
import math

import numpy as np
import pytest
from scipy.spatial.distance import cdist, directed_hausdorff

from m2dino.metrics import score_task
from m2dino.metrics import segmentation as seg


def square(shape, r0, c0, size, label=1, into=None):
    m = np.zeros(shape, dtype=np.int64) if into is None else into
    m[r0:r0 + size, c0:c0 + size] = label
    return m


def test_identical_masks():
    a = square((20, 20), 3, 4, 6)
    assert seg.dice_per_class(a, a, 2).tolist() == [1.0, 1.0]
    assert seg.hausdorff_pair(a == 1, a == 1) == (0.0, 0.0)


def test_both_empty_is_dice_one_and_distance_zero():
    a = np.zeros((10, 12), dtype=np.int64)
    assert seg.dice_per_class(a, a, 3).tolist() == [1.0, 1.0, 1.0]
    assert seg.hausdorff_pair(a == 1, a == 1) == (0.0, 0.0)


@pytest.mark.parametrize("pred_has", [True, False])
def test_one_side_empty_is_dice_zero_and_the_image_diagonal(pred_has):
    full = square((30, 40), 5, 5, 4)
    empty = np.zeros((30, 40), dtype=np.int64)
    p, t = (full, empty) if pred_has else (empty, full)
    assert seg.dice_per_class(p, t, 2)[1] == 0.0
    assert seg.hausdorff_pair(p == 1, t == 1) == (50.0, 50.0)  # sqrt(30² + 40²)


def test_squares_offset_diagonally():
    a, b = square((30, 40), 2, 2, 5), square((30, 40), 5, 6, 5)  # offset (3, 4): corner to corner 5 px
    # overlap: rows 5-6, column 6 -> 2 pixels; Dice = 2*2 / (25+25)
    assert seg.dice_per_class(a, b, 2)[1] == pytest.approx(0.08)
    assert seg.hausdorff_pair(a == 1, b == 1)[0] == pytest.approx(5.0)


def test_squares_offset_horizontally():
    a, b = square((20, 30), 4, 4, 5), square((20, 30), 4, 7, 5)  # offset 3 columns, overlap 5x2
    assert seg.dice_per_class(a, b, 2)[1] == pytest.approx(20 / 50)
    hd, hd95 = seg.hausdorff_pair(a == 1, b == 1)
    assert hd == pytest.approx(3.0)
    assert 0 < hd95 <= hd


def test_nested_squares_use_full_pixel_sets():
    outer, inner = square((40, 40), 0, 0, 20), square((40, 40), 5, 5, 10)
    # the outer corner (0, 0) is 5*sqrt(2) from the inner corner (5, 5); every inner pixel lies in the outer square
    assert seg.hausdorff_pair(outer == 1, inner == 1)[0] == pytest.approx(5 * math.sqrt(2))
    assert seg.dice_per_class(outer, inner, 2)[1] == pytest.approx(2 * 100 / 500)


def test_hd95_ignores_a_single_outlier_that_full_hd_catches():
    a = square((64, 64), 10, 10, 20)
    b = a.copy()
    b[20, 59] = 1  # 30 px right of the square's edge pixel (20, 29)
    hd, hd95 = seg.hausdorff_pair(a == 1, b == 1)
    assert hd == pytest.approx(30.0)
    assert hd95 == 0.0  # 1 outlier among 77 contour pixels lies above the 95th percentile


def test_single_pixels():
    a, b = np.zeros((20, 20), bool), np.zeros((20, 20), bool)
    a[3, 3], b[3, 10] = True, True
    assert seg.hausdorff_pair(a, b) == (7.0, 7.0)


def _blob(rng, shape):
    m = np.zeros(shape, bool)
    for _ in range(3):
        r, c = rng.integers(0, shape[0]), rng.integers(0, shape[1])
        h, w = rng.integers(1, 12, size=2)
        m[r:r + h, c:c + w] = True
    return m


def _contour_brute(m):
    """Foreground pixels with a 4-neighbour outside the mask or outside the image."""
    pad = np.pad(m, 1)
    interior = pad[:-2, 1:-1] & pad[2:, 1:-1] & pad[1:-1, :-2] & pad[1:-1, 2:]
    return m & ~interior


def test_hd_and_hd95_match_brute_force_on_random_masks():
    rng = np.random.default_rng(0)
    for _ in range(25):
        a, b = _blob(rng, (32, 24)), _blob(rng, (32, 24))  # blobs often touch the image border
        pa, pb = np.argwhere(a), np.argwhere(b)
        want = max(directed_hausdorff(pa, pb)[0], directed_hausdorff(pb, pa)[0])
        ca, cb = np.argwhere(_contour_brute(a)), np.argwhere(_contour_brute(b))
        d = cdist(ca, cb)
        want95 = max(np.percentile(d.min(1), 95), np.percentile(d.min(0), 95))
        hd, hd95 = seg.hausdorff_pair(a, b)
        assert hd == pytest.approx(want)
        assert hd95 == pytest.approx(want95)


def test_multiclass_averaging_per_class_over_images_then_over_foreground_classes():
    shape = (10, 10)
    t1 = np.zeros(shape, np.int64)
    t1[0:2], t1[8:10] = 1, 2
    p1 = np.zeros(shape, np.int64)
    p1[0:2] = 1  # class 1 perfect, class 2 missed
    t2 = np.zeros(shape, np.int64)  # neither class present in image 2, nor predicted: Dice 1, HD 0
    p2 = np.zeros(shape, np.int64)
    rows = [seg.image_scores(p1, t1, 3), seg.image_scores(p2, t2, 3)]
    assert seg.per_class_summary(rows, 3, "dice").tolist() == [1.0, 0.5]
    assert seg.per_class_summary(rows, 3, "hd") == pytest.approx([0.0, math.sqrt(200) / 2])
    s = seg.summary(rows, 3)
    assert s["dice"] == pytest.approx(0.75)  # background (0.857 and 1 here) is excluded
    assert s["hd"] == pytest.approx(math.sqrt(200) / 4)
    summary, df = score_task("cervix_multi", [p1, p2], [t1, t2], image_paths=["a.png", "b.png"])
    assert list(summary) == ["dice", "hd", "hd95"]
    assert summary["dice"] == pytest.approx(0.75)
    assert df["dice"].tolist() == [0.5, 1.0]
    assert df["dice"].mean() == pytest.approx(summary["dice"])
    assert df["dice_c2"].tolist() == [0.0, 1.0]


def test_bad_masks_are_refused():
    a = np.zeros((8, 8), np.int64)
    with pytest.raises(ValueError, match="differ in size"):
        score_task("lung", [a], [np.zeros((8, 9), np.int64)], image_paths=["x.png"])
    with pytest.raises(ValueError, match=r"class\(es\) \[2\] outside 0..1.*x.png"):
        score_task("lung", [a + 2], [a], image_paths=["x.png"])
    with pytest.raises(ValueError, match="integer class indices"):
        score_task("lung", [a.astype(float)], [a])
