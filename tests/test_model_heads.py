"""The task heads: shapes, starting exactly at the training-set mean (detection, regression), gradients from the first
step, and a classification head that keeps position."""
from __future__ import annotations

import pytest
import torch

from m2dino.model.heads import ClsHead, DetHead, RegHead, WherePool, grid_coords

pytestmark = pytest.mark.usefixtures("one_thread")

CH = [16, 16, 16, 16]
SIZE = (32, 32)


def feats(b: int = 3, h: int = 2, w: int = 2, seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(b, c, h, w, generator=g) for c in CH]


def test_grid_coords_are_cell_centres() -> None:
    c = grid_coords(2, 4, torch.zeros(1))
    assert c.shape == (2, 2, 4)
    assert torch.allclose(c[0, 0], torch.tensor([0.125, 0.375, 0.625, 0.875]))
    assert torch.allclose(c[1, :, 0], torch.tensor([0.25, 0.75]))


def test_detection_head_starts_exactly_at_the_mean_box() -> None:
    torch.manual_seed(0)
    head = DetHead(CH, dim=8)
    mean_box = [0.1, 0.2, 0.45, 0.9]
    head.set_prior(mean_box)
    out = head(feats(), SIZE)
    assert out.shape == (3, 4)
    assert torch.allclose(out, torch.tensor(mean_box).expand(3, 4), atol=1e-6)
    # a different prior moves the output with it: nothing else is learned yet
    head.set_prior([0.5, 0.5, 0.6, 0.7])
    assert torch.allclose(head(feats(seed=1), SIZE), torch.tensor([0.5, 0.5, 0.6, 0.7]).expand(3, 4), atol=1e-6)
    assert "prior" in head.state_dict()  # checkpoints carry it


def test_regression_head_starts_exactly_at_the_mean_keypoints() -> None:
    torch.manual_seed(0)
    head = RegHead(CH, num_points=3, dim=8)
    mean_pts = torch.tensor([[0.1, 0.2], [0.3, 0.4], [0.9, 0.8]])
    head.set_prior(mean_pts)
    out = head(feats(), SIZE)
    assert out.shape == (3, 3, 2)
    assert torch.allclose(out, mean_pts.expand(3, 3, 2), atol=1e-6)
    assert "prior" in head.state_dict()


def test_prior_is_checked() -> None:
    head = RegHead(CH, num_points=2, dim=8)
    with pytest.raises(RuntimeError):
        head.set_prior([0.1, 0.2, 0.3])  # not K x 2
    with pytest.raises(ValueError, match="not finite"):
        head.set_prior([[0.1, float("nan")], [0.3, 0.4]])


@pytest.mark.parametrize("kind", ["det", "reg"])
def test_first_step_gradient_reaches_the_where_map_and_the_output_layer(kind: str) -> None:
    """Zero-initialised, yet not stuck: the soft-argmax offset gives the where-map a gradient at once."""
    torch.manual_seed(0)
    head = DetHead(CH, dim=8) if kind == "det" else RegHead(CH, num_points=2, dim=8)
    f = feats(b=4, h=4, w=4)
    out = head(f, SIZE)
    target = (torch.tensor([[0.0, 0.0, 0.3, 0.3]]).expand(4, 4) if kind == "det"
              else torch.rand(4, 2, 2, generator=torch.Generator().manual_seed(1)))
    head.loss(out, target).backward()
    assert head.where.logits.weight.grad.abs().sum() > 0
    last = head.box.weight if kind == "det" else head.offset
    assert last.grad.abs().sum() > 0


def test_detection_boxes_are_valid_and_not_clamped() -> None:
    """Width and height are the prior's times exp(.), so x2 > x1 always; a box can leave [0, 1] (no clamp, so the
    gradient never dies at the border); the evaluation clips to the image."""
    torch.manual_seed(0)
    head = DetHead(CH, dim=8)
    with torch.no_grad():
        head.box.bias.copy_(torch.tensor([2.0, 0.0, 0.5, 0.5]))  # centre pushed far right
    out = head(feats(), SIZE)
    assert (out[:, 2:] > out[:, :2]).all()
    assert out[:, 2].max() > 1.0
    out.sum().backward()
    assert head.box.bias.grad[0] != 0


def test_where_pool_soft_argmax_is_zero_when_uniform_and_follows_a_peak() -> None:
    pool = WherePool(dim=1, k=1)
    x = torch.zeros(1, 1, 4, 4)
    _, s = pool(x)
    assert torch.allclose(s, torch.zeros(1, 1, 2), atol=1e-7)
    with torch.no_grad():
        pool.logits.weight.fill_(50.0)
    x[0, 0, 3, 0] = 1.0  # bottom-left cell: centre (0.125, 0.875), grid centre (0.5, 0.5)
    _, s = pool(x)
    assert torch.allclose(s[0, 0], torch.tensor([-0.375, 0.375]), atol=1e-4)


def _position_data(n: int = 64) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Features whose global mean is the same for both classes: class = whether the bright cell is left or right."""
    y = torch.arange(n) % 2
    x = torch.zeros(n, CH[0], 4, 4)
    for i in range(n):
        row = i % 4
        x[i, :, row, 0 if y[i] == 0 else 3] = 1.0
    return [x] * len(CH), y


@pytest.mark.parametrize("grid, learns", [(4, True), (0, False)])
def test_classification_head_keeps_position(grid: int, learns: bool) -> None:
    torch.manual_seed(0)
    head = ClsHead(CH, num_classes=2, dim=8, grid=grid)
    f, y = _position_data()
    opt = torch.optim.Adam(head.parameters(), lr=1e-2)
    for _ in range(60):
        opt.zero_grad()
        head.loss(head(f, SIZE), y).backward()
        opt.step()
    acc = (head(f, SIZE).argmax(1) == y).float().mean().item()
    assert (acc == 1.0) if learns else (acc <= 0.5 + 1e-6)
