"""One optimisation rule for pretraining and fine-tuning (m2dino/optim.py): weight decay, AdamW, schedule."""
from __future__ import annotations

import pytest
import torch

from m2dino.config import load
from m2dino.model import build_model
from m2dino.optim import build_optimizer, warmup_cosine
from m2dino.pretrain.loop import build_objective, create_backbone


def _decayed(opt: torch.optim.Optimizer) -> set[int]:
    return {id(p) for g in opt.param_groups if g["weight_decay"] > 0 for p in g["params"]}


def _key(name: str) -> str:
    """A backbone parameter's name without the wrappers' prefixes (``backbone.``, ``vit.``)."""
    for prefix in ("backbone.", "vit."):
        name = name.removeprefix(prefix)
    return name


def test_pretraining_and_fine_tuning_decay_the_same_backbone_parameters():
    cfg = load(["profile=smoke", "model.weights=null"])
    torch.manual_seed(0)
    objective = build_objective(cfg, create_backbone(cfg))
    pre = build_optimizer(objective.trainable(), cfg.pretrain)
    named = dict(objective.trainable().named_parameters())
    tokens = [n for n in named if n.endswith("_token")]
    assert tokens, "the backbone has class/register/mask tokens"
    assert not {id(named[n]) for n in tokens} & _decayed(pre)  # the 3-D tokens are not decayed
    model = build_model(cfg, ["breast_lesion"])
    fine = build_optimizer(model, cfg.train)
    decayed_pre = {_key(n) for n in named if id(named[n]) in _decayed(pre)}
    decayed_fine = {_key(n) for n, p in model.named_parameters() if id(p) in _decayed(fine)}
    common = {_key(n) for n in named} & {_key(n) for n, _ in model.named_parameters()}
    assert len(common) > 10  # the ViT's own parameters, named alike once the wrappers' prefixes are gone
    assert decayed_pre & common == decayed_fine & common
    assert all(g["fused"] for g in (*pre.param_groups, *fine.param_groups))


def test_schedule_is_shared_and_shaped():
    f = [warmup_cosine(s, 100, 0.1, 0.01) for s in range(100)]
    assert f[0] == pytest.approx(0.1) and f[9] == pytest.approx(1.0) and f[-1] < 0.05
    assert warmup_cosine(0, 10, 0.0, 0.5) == pytest.approx(1.0) and warmup_cosine(10, 10, 0.0, 0.5) == pytest.approx(0.5)
