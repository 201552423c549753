"""K models stacked into one compute, per model, exactly what each computes alone: outputs, losses and gradients."""
from __future__ import annotations

import pytest
import torch

from m2dino.config import load
from m2dino.model import build_model
from m2dino.model.stacked import StackedModel

pytestmark = pytest.mark.usefixtures("one_thread")

TASKS = ["fetal_head", "organ_cls", "thyroid_nodule_det", "IUGC"]  # one task of each type
SIZE = 32  # the smoke profile's input side


def _models(k: int, overrides: tuple[str, ...] = ()) -> list:
    cfg = load(["profile=smoke", "model.weights=null", *overrides])
    models = []
    for seed in range(k):
        torch.manual_seed(seed)
        m = build_model(cfg, TASKS)
        m.heads["thyroid_nodule_det"].set_prior([0.1 + 0.05 * seed, 0.2, 0.6, 0.7])  # members differ in buffers too
        models.append(m)
    return models


def _batch(k: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    targets = {"fetal_head": torch.randint(0, 2, (k, 4, SIZE, SIZE), generator=g),
               "organ_cls": torch.randint(0, 6, (k, 4), generator=g),
               "thyroid_nodule_det": torch.tensor([0.2, 0.25, 0.6, 0.7]).expand(k, 4, 4).contiguous(),
               "IUGC": torch.rand(k, 4, 3, 2, generator=g)}
    return torch.randn(k, 4, 3, SIZE, SIZE, generator=g), targets


@pytest.mark.parametrize("k", [1, 3])
def test_stacked_models_compute_what_each_computes_alone_byte_for_byte(k):
    """Byte-identical, not merely close: so a member's result depends neither on K nor on its stack-mates, and a
    run trained stacked is the run trained alone (the run hash needs no stacking key)."""
    models = _models(k)
    stacked = StackedModel(models)
    images, targets = _batch(k)
    for task in TASKS:
        out = stacked(images, task)
        loss = stacked.task_loss(out, targets[task], task) + out["aux_loss"]
        stacked.zero_grad()
        loss.sum().backward()
        grads = {n: p.grad for n, p in stacked.net.named_parameters()}
        for i, m in enumerate(models):
            m.zero_grad()
            alone = m(images[i], task)
            alone_loss = m.task_loss(alone, targets[task][i], task) + alone["aux_loss"]
            alone_loss.backward()
            assert torch.equal(alone["out"], out["out"][i]), (task, i)
            assert torch.equal(alone_loss, loss[i]), (task, i)
            for n, p in m.named_parameters():
                if p.grad is None:
                    assert grads[n] is None or not grads[n][i].any(), (task, i, n)
                else:
                    assert torch.equal(p.grad, grads[n][i]), (task, i, n)
    for i, m in enumerate(models):  # routing counts, per member, as alone
        assert stacked.routing_counts(i) == m.routing_counts()


def test_member_state_dicts_round_trip_with_the_models_keys():
    models = _models(2)
    stacked = StackedModel(models)
    for i, m in enumerate(models):
        own = stacked.member_state_dict(i)
        assert own.keys() == m.state_dict().keys()
        assert all(torch.equal(v, m.state_dict()[n]) for n, v in own.items())
    stacked.load_member_state_dict(0, models[1].state_dict())
    assert all(torch.equal(v, models[1].state_dict()[n]) for n, v in stacked.member_state_dict(0).items())
    with pytest.raises(KeyError, match="keys differ"):
        stacked.load_member_state_dict(0, {})


def test_only_one_architecture_and_deterministic_forwards_stack():
    a, b = _models(1)[0], _models(1, ("model.overrides.embed_dim=32",))[0]
    with pytest.raises(ValueError, match="one architecture"):
        StackedModel([a, b])
    with pytest.raises(NotImplementedError, match="timm Eva"):
        StackedModel([build_model(load(["profile=smoke", "model=fmc_baseline", "model.weights=null"]), TASKS)])
    with pytest.raises(NotImplementedError, match="draw random numbers"):
        StackedModel(_models(1, ("+model.overrides.attn_drop_rate=0.1",)))
