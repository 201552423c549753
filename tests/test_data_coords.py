"""The one rule from model output to original pixels (``m2dino.data.coords.to_original``), the code evaluation runs."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from m2dino.data.coords import pixel_scale, target_to_original, to_original


def test_segmentation_takes_the_class_then_resizes_nearest() -> None:
    logits = torch.zeros(3, 2, 2)
    logits[1, 0, 0] = logits[2, 1, 1] = 5.0  # class 1 top-left, class 2 bottom-right, 0 elsewhere
    mask = to_original("segmentation", logits, (4, 6))
    assert mask.shape == (4, 6) and mask.dtype == np.int64
    want = np.zeros((4, 6), dtype=np.int64)
    want[:2, :3], want[2:, 3:] = 1, 2  # each input pixel becomes a 2x3 block: labels, never blends of scores
    np.testing.assert_array_equal(mask, want)


def test_classification_gives_probabilities() -> None:
    probs = to_original("classification", torch.tensor([0.0, np.log(3.0)]), (10, 10))
    np.testing.assert_allclose(probs, [0.25, 0.75])
    assert probs.dtype == np.float64


def test_detection_scales_to_pixels_and_clips_to_the_image() -> None:
    box = to_original("detection", torch.tensor([0.1, 0.25, 0.5, 1.2]), (40, 200))  # (H0, W0)
    np.testing.assert_allclose(box, [20.0, 10.0, 100.0, 40.0])  # x by W0, y by H0; 1.2 clipped to the edge


def test_regression_scales_points_by_width_and_height() -> None:
    pts = to_original("regression", torch.tensor([[0.5, 0.5], [0.0, 1.0]]), (30, 60))
    np.testing.assert_allclose(pts, [[30.0, 15.0], [0.0, 30.0]])
    np.testing.assert_allclose(pixel_scale((30, 60)), [60.0, 30.0])


def test_unknown_type_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown task type"):
        to_original("ranking", torch.zeros(2), (2, 2))


def test_targets_map_back_by_the_same_rule() -> None:
    """A target given as a perfect prediction maps to the same pixels as the prediction would."""
    box = torch.tensor([0.1, 0.2, 0.3, 0.4])
    np.testing.assert_allclose(target_to_original("detection", box, (50, 100)), to_original("detection", box, (50, 100)))
    mask = torch.tensor([[0, 1], [2, 0]])
    onehot = torch.nn.functional.one_hot(mask, 3).permute(2, 0, 1).float()
    np.testing.assert_array_equal(target_to_original("segmentation", mask, (4, 4)),
                                  to_original("segmentation", onehot, (4, 4)))
    assert target_to_original("classification", torch.tensor(2), (5, 5)) == 2
