"""The task-conditioned MoE MLP: upcycling keeps the dense function, grouped matmul, task-dependent routing."""
from __future__ import annotations

import pytest
import torch
from timm.layers import GluMlp, Mlp, SwiGLU
from torch import nn

from m2dino.config import load
from m2dino.model import build_model
from m2dino.model.moe import TaskMoEMlp, grouped_matmul, task_context


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("make", [
    lambda: Mlp(48, 192),
    lambda: SwiGLU(48, 128),
    lambda: GluMlp(48, 256, act_layer=nn.SiLU, gate_last=False),
    lambda: GluMlp(48, 256, act_layer=nn.SiLU, gate_last=True),
    lambda: Mlp(6, 10),  # rows not 16-byte aligned: the per-expert fallback path
])
def test_upcycled_moe_equals_dense_mlp(make) -> None:
    torch.manual_seed(0)
    dense = make()
    moe = TaskMoEMlp.from_dense(dense, num_experts=8, top_k=2, task_embed_dim=16, num_tasks=2)
    x, emb = torch.randn(3, 17, moe.w_in.shape[1]), torch.randn(16)
    with task_context([moe], 1, emb):
        y = moe(x)
    torch.testing.assert_close(y, dense(x), rtol=1e-5, atol=1e-5)
    # and the experts really are separate parameters: changing one changes the output of the tokens it gets
    with torch.no_grad():
        moe.w_out[int(moe.counts[1].argmax())] += 1.0
    with task_context([moe], 1, emb):
        assert not torch.allclose(moe(x), dense(x), atol=1e-3)


def test_upcycled_model_equals_dense_model() -> None:
    """build_model with MoE computes the dense DINOv3's features at init (same seed -> same ViT weights)."""
    x = torch.randn(2, 3, 32, 32)
    torch.manual_seed(0)
    dense = build_model(load(["profile=smoke", "model.weights=null", "model.moe.enabled=false"]), ["lung", "IUGC"]).eval()
    torch.manual_seed(0)
    moe = build_model(load(["profile=smoke", "model.weights=null"]), ["lung", "IUGC"]).eval()
    assert moe.backbone.moes
    for task_index in (0, 1):
        for a, b in zip(dense.backbone(x, task_index), moe.backbone(x, task_index)):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_grouped_matmul_matches_per_expert_products() -> None:
    torch.manual_seed(0)
    counts = torch.tensor([5, 0, 9, 2])
    x, w = torch.randn(16, 8), torch.randn(4, 8, 12)
    ref = torch.cat([p @ w[e] for e, p in enumerate(x.split(counts.tolist()))])
    torch.testing.assert_close(grouped_matmul(x, w, counts), ref)


def test_moe_needs_a_task() -> None:
    moe = TaskMoEMlp.from_dense(Mlp(8, 16), num_experts=4, top_k=2, task_embed_dim=4)
    with pytest.raises(RuntimeError, match="set_task"):
        moe(torch.randn(2, 8))


def test_task_embedding_changes_routing() -> None:
    torch.manual_seed(0)
    model = build_model(load(["profile=smoke", "model.weights=null"]), ["breast_2cls", "lung_2cls"])
    x = torch.randn(4, 3, 32, 32)

    def counts_per_task() -> dict:
        model.reset_routing_counts()
        with torch.no_grad():
            model(x, "breast_2cls")
            model(x, "lung_2cls")
        return model.routing_counts()

    emb = model.backbone.task_embed.weight
    with torch.no_grad():
        emb[1] = emb[0]
    same = counts_per_task()
    assert same["breast_2cls"] == same["lung_2cls"]  # identical embeddings, identical routing
    with torch.no_grad():
        emb[1] = emb[0] + 20.0 * torch.randn_like(emb[0])
    diff = counts_per_task()
    assert diff["breast_2cls"] != diff["lung_2cls"]
    assert diff["breast_2cls"] == same["breast_2cls"]  # the unperturbed task routes as before


def test_aux_losses_balanced_vs_collapsed() -> None:
    """The Switch balance loss is ~1 when routing is spread, and larger when it collapses onto few experts."""
    torch.manual_seed(0)
    moe = TaskMoEMlp.from_dense(Mlp(16, 32), num_experts=8, top_k=2, task_embed_dim=4)
    x = torch.randn(512, 16)
    with task_context([moe], 0, torch.zeros(4)):
        moe(x)
    spread = moe.aux["balance"].item()
    with torch.no_grad():
        moe.router_t.bias.copy_(torch.tensor([10.0, 10.0, 0, 0, 0, 0, 0, 0]))
    with task_context([moe], 0, torch.zeros(4)):
        moe(x)
    collapsed = moe.aux["balance"].item()
    assert 0.9 < spread < 1.3
    assert collapsed > 3.5  # all tokens on 2 of 8 experts: E * 2 * (1/2 * ~1/2) = 4
    assert moe.aux["z"].item() > 50  # logsumexp ~ 10.7, squared


def test_upcycled_model_equals_dense_model_in_bf16_autocast() -> None:
    """The bf16 path (CPU autocast, as the paper profile runs on a GPU): MoE equals dense at init within bf16 rounding,
    and the experts compute in bf16 like the dense MLP does, forward and backward."""
    x = torch.randn(2, 3, 32, 32)
    torch.manual_seed(0)
    dense = build_model(load(["profile=smoke", "model.moe.enabled=false"]), ["lung", "IUGC"]).eval()
    torch.manual_seed(0)
    moe = build_model(load(["profile=smoke"]), ["lung", "IUGC"]).eval()
    seen = []
    hook = next(iter(moe.backbone.moes.values())).register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        for task_index in (0, 1):
            fd, fm = dense.backbone(x, task_index), moe.backbone(x, task_index)
            for a, b in zip(fd, fm):
                torch.testing.assert_close(b.float(), a.float(), rtol=2e-2, atol=2e-2)
        loss = sum(f.float().square().mean() for f in moe.backbone(x, 0))
    hook.remove()
    assert seen and all(d == torch.bfloat16 for d in seen)
    loss.backward()
    moe_mod = next(iter(moe.backbone.moes.values()))
    assert moe_mod.w_in.grad is not None and torch.isfinite(moe_mod.w_in.grad).all()
