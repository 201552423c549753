"""The self-supervised objectives learn: a few steps on a fixed batch lower the loss on fixed views."""
import pytest
import torch

from m2dino.config import load
from m2dino.pretrain.augment import Views, crop_boxes
from m2dino.optim import warmup_cosine
from m2dino.pretrain.loop import build_objective, create_backbone


pytestmark = pytest.mark.usefixtures("one_thread")


def _loss_at(objective: torch.nn.Module, batch: torch.Tensor, seed: int) -> float:
    torch.manual_seed(seed)  # same views, masks and crops every time
    with torch.no_grad():
        return objective(batch).item()


@pytest.mark.parametrize("name", ["mim", "dino"])
def test_a_few_steps_lower_the_loss_on_a_fixed_batch(name):
    # dino: a frozen teacher (ema 1.0) and frozen center, so the loss is the student's distance to a fixed target
    cfg = load(["profile=smoke", f"pretrain.objective={name}", "pretrain.dino.ema=[1.0,1.0]",
                "pretrain.dino.center_momentum=1.0"])
    torch.manual_seed(0)
    objective = build_objective(cfg, create_backbone(cfg))
    batch = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
    batch[:, :, 8:24, 8:24] //= 4  # some structure to reconstruct or to be invariant to
    before = _loss_at(objective, batch, seed=123)
    opt = torch.optim.AdamW(objective.trainable().parameters(), lr=2e-3)
    for step in range(8):
        torch.manual_seed(123)
        loss = objective(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        objective.after_step(step, 8)
    after = _loss_at(objective, batch, seed=123)
    assert after < 0.95 * before, f"{name}: loss {before:.4f} -> {after:.4f}"


def test_dino_teacher_follows_the_student_by_ema_and_is_exported():
    cfg = load(["profile=smoke", "pretrain.objective=dino", "pretrain.dino.ema=[0.5,0.5]"])
    torch.manual_seed(0)
    obj = build_objective(cfg, create_backbone(cfg))
    s, t = obj.student["backbone"].cls_token, obj.teacher["backbone"].cls_token
    with torch.no_grad():
        s.add_(1.0)
    before = t.clone()
    obj.after_step(0, 10)
    assert torch.allclose(t, 0.5 * before + 0.5 * s)
    assert obj.export() is obj.teacher["backbone"]
    assert not any(p.requires_grad for p in obj.teacher.parameters())


def test_views_are_per_image_and_reproducible():
    x = torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8)
    v = Views(16, (0.2, 0.6))
    torch.manual_seed(1)
    a = v(x)
    torch.manual_seed(1)
    b = v(x)
    assert a.shape == (6, 3, 16, 16) and torch.equal(a, b)
    same = torch.stack([x[0]] * 6)
    torch.manual_seed(2)
    out = v(same)
    assert not torch.allclose(out[0], out[1])  # one image, different crops
    boxes = crop_boxes(1000, 32, 48, (0.2, 0.6))
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) / (32 * 48)
    assert (boxes[:, :2] >= 0).all() and (boxes[:, 2] <= 48 + 1e-4).all() and (boxes[:, 3] <= 32 + 1e-4).all()
    assert area.max() <= 0.6 + 1e-4 and area.min() >= 0.1  # clamping to the image may shrink a few


def test_schedule_warms_up_then_decays():
    f = [warmup_cosine(s, 100, 0.1, 0.01) for s in range(100)]
    assert f[0] == pytest.approx(0.1) and f[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(f[10:], f[11:])) and f[-1] < 0.05


def test_pretraining_leaves_the_callers_rng_stream_untouched():
    from m2dino.pretrain.loop import pretrain

    cfg = load(["profile=smoke", "pretrain.steps=1"])
    s = cfg.data.image_size
    images = torch.randint(0, 255, (8, 3, s, s), dtype=torch.uint8)
    torch.manual_seed(123)
    want = torch.rand(3)
    torch.manual_seed(123)
    pretrain(cfg, images)
    assert torch.equal(torch.rand(3), want)
