"""Task-conditioned Mixture-of-Experts MLP, a drop-in swap for a timm ViT block's ``mlp``.

What the study says [S]: experts sit in the later blocks, and the router sees both the token and a learned per-task
embedding. Our choices where it is silent [ours]:

- E experts with top-k routing (defaults 8 and 2, ``model.moe.num_experts/top_k``).
- The router is one linear layer over the concatenation ``[token, task_embedding]`` (as in M3ViT). We compute it as
  ``W_x x + W_t t + b``, which is the same linear map without materialising the concatenated tensor.
- Gate weights are the softmax probabilities of the k chosen experts, renormalised to sum to 1. With experts that are
  exact copies of the dense MLP (upcycling), the output is then ``sum_j g_j * mlp(x) = mlp(x)``: at initialisation the
  MoE model computes the dense model's function, so pretrained features are kept.
- Auxiliary losses: the Switch-Transformer load-balancing loss ``E * sum_e f_e * P_e`` (``f_e``: share of the token
  assignments sent to expert e, ``P_e``: mean router probability of e; equals 1 when balanced) and the ST-MoE router
  z-loss ``mean(logsumexp(logits)^2)``. The model averages them over MoE layers and weights them by
  ``model.moe.balance_weight`` and ``model.moe.z_weight``.
- Every token is routed, prefix (class and register) tokens included; usage counts cover all of them.

Tokens are sorted by expert and each expert's slice goes through a grouped matmul (``torch.nn.functional.grouped_mm``,
one kernel for all experts) when the shapes allow it, else a loop over the E experts (never over tokens or samples).
Under autocast the experts compute in the autocast dtype (as the dense ``nn.Linear`` layers do); the gate-weighted sum
is taken in fp32. Alternatives measured on a 2-core CPU and rejected (m2dino/benchmarks/moe.py has the step ratio):
a padded batched matmul over experts (capacity = the largest expert's load, so nothing is dropped) was 15-50% slower
than the grouped matmul (15% at the paper shape, 60-80% at the demo shape); a hand-written autograd function for dispatch, experts
and combine, or per-expert ``addmm`` with the bias fused, gained at most 1-2% (noise); ``torch.compile`` cannot trace
``grouped_mm`` in fp32 on CPU, and compiling the routing alone made it slower (its runtime wrappers cost more than the
fused kernels save at the demo's 168 tokens); computing every expert for every token (one batched matmul per layer
and a dense [tokens, E] gate matrix, no sort or scatter) costs E/k = 4x the FLOPs and made the demo's training step
1.5-2.1x slower, not faster, on one thread (seg/cls/keypoint tasks, 2026-12-07). Compiling the whole model with the
grouped matmul left eager gained 10% on a segmentation step and lost 4-7% on classification and keypoint steps, after
4-55 s of compilation per graph. (These two were one-off scripts, one task of each type at batch 16, not part of
``python -m m2dino bench``; its ``moe`` benchmark measures only the grouped matmul against dense.)
"""
from __future__ import annotations

from contextlib import contextmanager
from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from timm.layers import GluMlp, Mlp, SwiGLU


def _grouped_mm_ok(x: torch.Tensor, w: torch.Tensor) -> bool:
    """Whether ``F.grouped_mm`` takes these operands (it needs 16-byte aligned rows)."""
    if not hasattr(F, "grouped_mm"):
        return False
    align = 16 // x.element_size()
    if x.shape[-1] % align or w.shape[-1] % align:
        return False
    return x.device.type == "cpu" or x.dtype == torch.bfloat16


class _ContiguousGrad(torch.autograd.Function):
    """Identity whose backward makes the incoming gradient contiguous (grouped_mm's backward rejects 0-stride grads)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return grad.contiguous()


def grouped_matmul(x: torch.Tensor, w: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """Multiply consecutive row groups of ``x`` [sum(counts), D] by the matching ``w`` [E, D, H].

    Args:
        x: rows sorted by group.
        w: one weight matrix per group.
        counts: rows per group [E].
    """
    w = w.to(x.dtype)
    if _grouped_mm_ok(x, w):
        return _ContiguousGrad.apply(F.grouped_mm(x, w, offs=counts.cumsum(0).to(torch.int32)))
    parts = x.split(counts.tolist())
    return torch.cat([p @ w[e] for e, p in enumerate(parts)], dim=0)


class TaskMoEMlp(nn.Module):
    """Top-k Mixture-of-Experts MLP whose router sees each token and the current task's embedding.

    The constructor follows timm's ``Mlp`` (``in_features, hidden_features, out_features, act_layer, norm_layer, bias,
    drop``) plus the MoE arguments, so it can be passed as a block's ``mlp_layer``; ``from_dense`` upcycles an existing
    ``Mlp``/``SwiGLU``/``GluMlp``. The task is set from outside with ``set_task`` (or ``task_context``) before the
    backbone's forward, so timm's block forward signature is untouched.
    """

    def __init__(
        self,
        in_features: int,
        hidden_features: int | None = None,
        out_features: int | None = None,
        act_layer: type[nn.Module] = nn.GELU,
        norm_layer: type[nn.Module] | None = None,
        bias: bool = True,
        drop: float = 0.0,
        *,
        num_experts: int = 8,
        top_k: int = 2,
        task_embed_dim: int = 64,
        num_tasks: int = 1,
        gated: bool = False,
        gate_last: bool = False,
        router_init_std: float = 0.02,
    ) -> None:
        super().__init__()
        if not 1 <= top_k <= num_experts:
            raise ValueError(f"top_k must be in [1, num_experts={num_experts}], got {top_k}")
        out_features = out_features or in_features
        hidden_features = hidden_features or in_features
        self.num_experts, self.top_k, self.gated, self.gate_last = num_experts, top_k, gated, gate_last
        hin = 2 * hidden_features if gated else hidden_features  # gated: [gate | value] packed side by side
        self.w_in = nn.Parameter(torch.empty(num_experts, in_features, hin))
        self.b_in = nn.Parameter(torch.zeros(num_experts, hin)) if bias else None
        self.w_out = nn.Parameter(torch.empty(num_experts, hidden_features, out_features))
        self.b_out = nn.Parameter(torch.zeros(num_experts, out_features)) if bias else None
        for w in (self.w_in, self.w_out):
            nn.init.trunc_normal_(w, std=0.02)
        self.act = act_layer()
        self.drop1 = nn.Dropout(drop)
        self.norm = norm_layer(hidden_features) if norm_layer is not None else nn.Identity()
        self.drop2 = nn.Dropout(drop)
        self.router_x = nn.Linear(in_features, num_experts, bias=False)
        self.router_t = nn.Linear(task_embed_dim, num_experts)
        nn.init.normal_(self.router_x.weight, std=router_init_std)
        nn.init.normal_(self.router_t.weight, std=router_init_std)
        nn.init.zeros_(self.router_t.bias)
        self.register_buffer("counts", torch.zeros(num_tasks, num_experts, dtype=torch.long), persistent=False)
        self._task: tuple[int, torch.Tensor] | None = None
        self.aux: dict[str, torch.Tensor] = {}

    @classmethod
    def from_dense(cls, mlp: nn.Module, **moe_kwargs) -> "TaskMoEMlp":
        """Upcycle a dense timm MLP: every expert starts as an exact copy of it (the norm inside, if any, is shared)."""
        if isinstance(mlp, SwiGLU):
            fc_in = [mlp.fc1_g, mlp.fc1_x]
            gated, gate_last = True, False
        elif isinstance(mlp, GluMlp):
            fc_in, gated, gate_last = [mlp.fc1], True, mlp.gate_last
        elif isinstance(mlp, Mlp):
            fc_in, gated, gate_last = [mlp.fc1], False, False
        else:
            raise TypeError(f"cannot upcycle {type(mlp).__name__}; supported: timm Mlp, SwiGLU, GluMlp")
        if any(isinstance(f, nn.Conv2d) for f in (*fc_in, mlp.fc2)):
            raise TypeError("conv MLPs (use_conv=True) are not supported")
        w_in = torch.cat([f.weight.t() for f in fc_in], dim=1)  # [D, Hin]
        w_out = mlp.fc2.weight.t()  # [H, D]
        has_bias = mlp.fc2.bias is not None
        moe = cls(w_in.shape[0], w_out.shape[0], w_out.shape[1], bias=has_bias, gated=gated, gate_last=gate_last,
                  drop=mlp.drop1.p if isinstance(mlp.drop1, nn.Dropout) else 0.0, **moe_kwargs)
        moe.act = mlp.act
        moe.norm = mlp.norm
        dev, dt = w_in.device, w_in.dtype
        moe.to(device=dev, dtype=dt)
        with torch.no_grad():
            moe.w_in.copy_(w_in.unsqueeze(0).expand_as(moe.w_in))
            moe.w_out.copy_(w_out.unsqueeze(0).expand_as(moe.w_out))
            if has_bias:
                b_in = torch.cat([f.bias if f.bias is not None else torch.zeros(f.out_features, device=dev, dtype=dt)
                                  for f in fc_in])
                moe.b_in.copy_(b_in.unsqueeze(0).expand_as(moe.b_in))
                moe.b_out.copy_(mlp.fc2.bias.unsqueeze(0).expand_as(moe.b_out))
        return moe

    def set_task(self, index: int | None, embedding: torch.Tensor | None = None) -> None:
        """Set (or clear, with None) the task whose embedding the router sees and whose usage counts grow."""
        self._task = None if index is None else (int(index), embedding)

    def _hidden(self, h: torch.Tensor) -> torch.Tensor:
        if not self.gated:
            return self.act(h)
        a, b = h.chunk(2, dim=-1)
        return a * self.act(b) if self.gate_last else self.act(a) * b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._task is None:
            raise RuntimeError("TaskMoEMlp: no task set; call set_task(index, embedding) before the forward")
        task_index, task_vec = self._task
        shape = x.shape
        x = x.reshape(-1, shape[-1])
        n, k = x.shape[0], self.top_k

        logits = (self.router_x(x) + self.router_t(task_vec.to(x.dtype))).float()  # [N, E]
        probs = logits.softmax(dim=-1)
        gate, expert = probs.topk(k, dim=-1)  # [N, k]
        gate = gate / gate.sum(dim=-1, keepdim=True)  # renormalised: identical experts give exactly the dense output

        flat = expert.reshape(-1)
        order = flat.argsort(stable=True)
        counts = torch.bincount(flat, minlength=self.num_experts)
        sorted_expert = flat[order]
        token = order // k  # the token of each expert-sorted assignment
        # index_select / index_add_ rather than advanced indexing: their backward is a gather or an index_add_, not
        # an accumulating index_put_ (1-2% less time in the MoE MLP at the paper shape on CPU; neutral per step)
        xs = x.index_select(0, token)
        if torch.is_autocast_enabled(x.device.type):  # the experts compute in the autocast dtype, as nn.Linear does
            xs = xs.to(torch.get_autocast_dtype(x.device.type))

        h = grouped_matmul(xs, self.w_in, counts)
        if self.b_in is not None:
            h = h + self.b_in.index_select(0, sorted_expert).to(h.dtype)
        h = self.norm(self.drop1(self._hidden(h)))
        y = grouped_matmul(h, self.w_out, counts)
        if self.b_out is not None:
            y = y + self.b_out.index_select(0, sorted_expert).to(y.dtype)
        y = self.drop2(y)

        # gate-weighted sum of each token's k expert outputs, in fp32 (in bf16 the gates would not sum to 1 exactly)
        g = gate.reshape(-1).index_select(0, order)
        out = y.new_zeros(n, y.shape[1], dtype=torch.promote_types(y.dtype, g.dtype))
        out = out.index_add(0, token, y * g.unsqueeze(1)).to(y.dtype)

        frac = counts.to(probs.dtype) / (n * k)
        self.aux = {"balance": self.num_experts * (frac * probs.mean(dim=0)).sum(),
                    "z": torch.logsumexp(logits, dim=-1).pow(2).mean()}
        with torch.no_grad():
            self.counts[task_index] += counts
        return out.reshape(*shape[:-1], -1)


def upcycle_blocks(blocks: nn.ModuleList, indices: Sequence[int], **moe_kwargs) -> dict[int, TaskMoEMlp]:
    """Replace ``blocks[i].mlp`` by an upcycled ``TaskMoEMlp`` for each i; returns block index -> MoE module."""
    out = {}
    for i in indices:
        if not 0 <= i < len(blocks):
            raise ValueError(f"MoE block index {i} outside 0..{len(blocks) - 1}")
        blocks[i].mlp = TaskMoEMlp.from_dense(blocks[i].mlp, **moe_kwargs)
        out[i] = blocks[i].mlp
    return out


@contextmanager
def task_context(moes: Sequence[TaskMoEMlp], index: int, embedding: torch.Tensor) -> Iterator[None]:
    """Route with task ``index`` inside the block; the task is cleared after, so no graph is kept alive."""
    for m in moes:
        m.set_task(index, embedding)
    try:
        yield
    finally:
        for m in moes:
            m.set_task(None)
