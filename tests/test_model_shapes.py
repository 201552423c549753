"""M2DINO (MoE and dense) and the FMC baseline: output shapes and ranges per task type, aux loss, routing counts."""
from __future__ import annotations

import pytest
import torch

from m2dino.config import load
from m2dino.model import build_model


pytestmark = pytest.mark.usefixtures("one_thread")

TASKS = ["cardiac_multi", "breast_3cls", "thyroid_nodule_det", "IUGC"]  # one per type (seg has 4 classes)
B, S = 2, 32


def _cfg(*extra: str):
    return load(["profile=smoke", "model.weights=null", *extra])


@pytest.fixture(scope="module")
def models() -> dict:
    torch.manual_seed(0)
    return {"moe": build_model(_cfg(), TASKS), "dense": build_model(_cfg("model.moe.enabled=false"), TASKS)}


def _check_out(out: torch.Tensor, task_id: str) -> None:
    from m2dino.registry import get_task

    t = get_task(task_id)
    expected = {"segmentation": (B, t.num_classes, S, S), "classification": (B, t.num_classes),
                "detection": (B, 4), "regression": (B, t.num_classes, 2)}[t.type]
    assert tuple(out.shape) == expected
    assert torch.isfinite(out).all()
    if t.type in ("detection", "regression"):
        assert out.min() >= 0 and out.max() <= 1
    if t.type == "detection":
        assert (out[:, 2:] >= out[:, :2]).all()


@pytest.mark.parametrize("kind", ["moe", "dense"])
@pytest.mark.parametrize("task_id", TASKS)
def test_shapes_and_losses(models: dict, kind: str, task_id: str) -> None:
    model = models[kind]
    x = torch.randn(B, 3, S, S)
    res = model(x, task_id)
    _check_out(res["out"], task_id)
    aux = res["aux_loss"]
    assert aux.ndim == 0 and torch.isfinite(aux)
    assert (aux > 0) if kind == "moe" else (aux == 0)
    target = {"cardiac_multi": torch.randint(0, 4, (B, S, S)), "breast_3cls": torch.tensor([0, 2]),
              "thyroid_nodule_det": torch.tensor([[0.1, 0.2, 0.5, 0.6], [0.3, 0.3, 0.9, 0.8]]),
              "IUGC": torch.rand(B, 3, 2)}[task_id]
    loss = model.task_loss(res, target, task_id)
    assert loss.ndim == 0 and torch.isfinite(loss) and loss > 0


def test_moe_blocks_default_second_half_and_list(models: dict) -> None:
    assert sorted(models["moe"].backbone.moes) == [2, 3]  # depth 4 -> blocks 2, 3
    assert models["dense"].backbone.moes == {}
    m = build_model(_cfg("model.moe.blocks=[0,3]", "model.moe.num_experts=4", "model.moe.top_k=1"), ["IUGC"])
    assert sorted(m.backbone.moes) == [0, 3]
    assert m.backbone.moes[0].w_in.shape[0] == 4


def test_routing_counts_sum_to_tokens_times_k(models: dict) -> None:
    model = models["moe"]
    model.reset_routing_counts()
    x = torch.randn(3, 3, S, S)
    model(x, "IUGC")
    model(x[:1], "IUGC")
    model(x, "breast_3cls")
    counts = model.routing_counts()
    assert set(counts) == set(TASKS)
    per_img = (S // 16) ** 2 + model.backbone.vit.num_prefix_tokens
    k = model.backbone.moes[2].top_k
    for block in (2, 3):
        assert sum(counts["IUGC"][block]) == 4 * per_img * k
        assert sum(counts["breast_3cls"][block]) == 3 * per_img * k
        assert sum(counts["cardiac_multi"][block]) == 0
        assert len(counts["IUGC"][block]) == 8
    model.reset_routing_counts()
    assert all(sum(v) == 0 for blocks in model.routing_counts().values() for v in blocks.values())


def test_backward_reaches_experts_router_and_task_embedding() -> None:
    torch.manual_seed(1)
    model = build_model(_cfg(), ["breast_lesion", "fetal_femur"])
    res = model(torch.randn(2, 3, S, S), "breast_lesion")
    loss = model.task_loss(res["out"], torch.randint(0, 2, (2, S, S)), "breast_lesion") + res["aux_loss"]
    loss.backward()
    moe = model.backbone.moes[3]
    for name, p in [("w_in", moe.w_in), ("w_out", moe.w_out), ("router_x", moe.router_x.weight),
                    ("router_t", moe.router_t.weight)]:
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    emb = model.backbone.task_embed.weight.grad
    assert emb[0].abs().sum() > 0 and emb[1].abs().sum() == 0  # only the batch's task gets a gradient
    # the other task's head takes no part
    assert all(p.grad is None for p in model.heads["fetal_femur"].parameters())


def test_unknown_task_is_a_clear_error(models: dict) -> None:
    with pytest.raises(KeyError, match="lung"):
        models["moe"](torch.randn(1, 3, S, S), "lung")
