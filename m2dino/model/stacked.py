"""K independent models of one architecture trained as one: every parameter and buffer carries a leading model
dimension, and each forward runs the K models on their own batches at once.

Why: part of a training step is paid per operator call or per step (dispatch, the optimiser, the clipping, the
Python around them), not per image; stacking K models (the seeds of one unit) pays it once for K models. What it buys
at the demo's shape is measured by ``python -m m2dino bench only=[stacked]``.

How: the stacked model keeps the module tree of the first model, with each tensor replaced by the K models' tensors
stacked, so ``named_parameters`` gives the names the model has alone. The ViT (timm's Eva, the DINOv3 configuration)
runs over the model dimension with batched matmuls (``torch.bmm``: qkv, projections, MLPs, the routers' task part),
one attention call over K x B sequences, timm's own rotary embedding and patch embedding; the MoE MLP routes K
models' tokens natively (:func:`stacked_moe`), K x E groups in the one grouped matmul, each model with its own
router, task embedding, auxiliary losses and routing counts. The heads and their losses run one model at a time
(``functional_call`` on that model's slice), as do the layer norms and the routers' token part.

Exactness: model k's outputs, losses and gradients are byte-identical to those of the model alone (a test checks
every tensor), so they depend neither on K nor on the stack-mates. Other choices were measured and rejected at the
demo shape on one thread (2026-12-07, 2-core CPU under load, CPU time, alternating): ``torch.func.vmap`` of timm's
submodules was no faster than the models one at a time (its batched ``linear`` and attention fallback cost more than
the calls it saves) and its convolutions became grouped convolutions whose bits depend on K; vmapped heads gained 4-5%
on segmentation and classification and lost 10% on detection and keypoints; one layer-norm call with the affine
applied after, or one batched call for the routers' token part, gained nothing measurable and changed the weight
gradients' last bits. ``torch.compile`` of the stacked forward (K=4, the grouped matmul left eager: it cannot be traced
in fp32 on CPU) made a step 3.5% faster per model on classification and 16% on segmentation, after 30 s and 54 s of
CPU time to compile each graph (one per task head and mode), and its fused kernels are no longer bit-identical to the
model alone: not kept. Only deterministic forwards can be stacked (no active dropout or drop-path), since a random op
would draw differently than alone.
"""
from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from timm.layers import apply_rot_embed_cat
from torch import nn
from torch.func import functional_call

from m2dino.model.moe import TaskMoEMlp, grouped_matmul
from m2dino.model.multitask import MultiTaskModel


def stacked_moe(moe: TaskMoEMlp, x: torch.Tensor, task_index: int, task_vec: torch.Tensor) -> torch.Tensor:
    """The MoE MLP of K models at once: ``x`` [K, N, D] (each model's N tokens), ``task_vec`` [K, T] (each model's
    embedding of the task); ``moe``'s tensors are stacked [K, ...]. Same arithmetic as :meth:`TaskMoEMlp.forward`
    per model; the K models' E experts are K*E groups of one grouped matmul. Sets ``moe.aux`` (each [K]) and adds
    each model's routing counts to ``moe.counts`` [K, tasks, E]."""
    if not isinstance(moe.norm, nn.Identity):
        raise NotImplementedError("stacked MoE: an MLP with a norm inside (timm norm_layer) is not supported")
    if moe.training and (moe.drop1.p > 0 or moe.drop2.p > 0):
        raise NotImplementedError("stacked MoE: dropout in the experts would draw differently than alone")
    kk, n, d = x.shape
    e, k = moe.num_experts, moe.top_k
    # the token part of the router one model at a time: its 8 outputs per token take another matmul kernel in a
    # batched call, whose weight gradient differs from alone in the last bits
    rx = torch.stack([F.linear(x[j], moe.router_x.weight[j]) for j in range(kk)])
    logits = (rx + _linear(task_vec.to(x.dtype).unsqueeze(1), moe.router_t.weight,
                           moe.router_t.bias)).float()  # [K, N, E]
    probs = logits.softmax(dim=-1)
    gate, expert = probs.topk(k, dim=-1)  # [K, N, k]
    gate = gate / gate.sum(dim=-1, keepdim=True)

    # model m's expert j is group m*E + j: a stable sort keeps each model's assignments in the order it has alone
    flat = (expert + (torch.arange(kk, device=x.device) * e).view(kk, 1, 1)).reshape(-1)
    order = flat.argsort(stable=True)
    counts = torch.bincount(flat, minlength=kk * e)
    sorted_group = flat[order]
    token = order // k  # index into the K*N tokens
    xs = x.reshape(kk * n, d).index_select(0, token)
    if torch.is_autocast_enabled(x.device.type):
        xs = xs.to(torch.get_autocast_dtype(x.device.type))
    h = grouped_matmul(xs, moe.w_in.reshape(kk * e, *moe.w_in.shape[2:]), counts)
    if moe.b_in is not None:
        h = h + moe.b_in.reshape(kk * e, -1).index_select(0, sorted_group).to(h.dtype)
    h = moe._hidden(h)
    y = grouped_matmul(h, moe.w_out.reshape(kk * e, *moe.w_out.shape[2:]), counts)
    if moe.b_out is not None:
        y = y + moe.b_out.reshape(kk * e, -1).index_select(0, sorted_group).to(y.dtype)

    g = gate.reshape(-1).index_select(0, order)
    out = y.new_zeros(kk * n, y.shape[1], dtype=torch.promote_types(y.dtype, g.dtype))
    out = out.index_add(0, token, y * g.unsqueeze(1)).to(y.dtype)

    per_model = counts.view(kk, e)
    frac = per_model.to(probs.dtype) / (n * k)
    moe.aux = {"balance": e * (frac * probs.mean(dim=1)).sum(dim=-1),
               "z": torch.logsumexp(logits, dim=-1).pow(2).mean(dim=-1)}
    with torch.no_grad():
        moe.counts[:, task_index] += per_model
    return out.view(kk, n, -1)


def _linear(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
    """``F.linear`` of each model: x [K, M, in], w [K, out, in], b [K, out] -> [K, M, out] (one batched matmul)."""
    if b is None:
        return torch.bmm(x, w.transpose(1, 2))
    return torch.baddbmm(b.unsqueeze(1), x, w.transpose(1, 2))


def _lin(x: torch.Tensor, lin: nn.Linear) -> torch.Tensor:
    """A stacked ``nn.Linear`` on x [K, ..., in]."""
    kk = x.shape[0]
    return _linear(x.reshape(kk, -1, x.shape[-1]), lin.weight, lin.bias).view(*x.shape[:-1], -1)


def _norm(x: torch.Tensor, ln: nn.Module) -> torch.Tensor:
    """A stacked ``nn.LayerNorm`` (or Identity) on x [K, ..., D]: one call per model, as alone (a single call with
    the affine applied after gave other bits in the weight gradients, at no measurable gain)."""
    if isinstance(ln, nn.Identity):
        return x
    if not isinstance(ln, nn.LayerNorm):
        raise NotImplementedError(f"stacked training: norm layer {type(ln).__name__} is not supported")
    w, b = ln.weight, ln.bias
    return torch.stack([F.layer_norm(x[k], ln.normalized_shape, None if w is None else w[k],
                                     None if b is None else b[k], ln.eps) for k in range(x.shape[0])])


def _scale(x: torch.Tensor, gamma: torch.Tensor | None) -> torch.Tensor:
    """timm's layer scale (``gamma * x``) of each model; gamma [K, D]."""
    return x if gamma is None else gamma.view(x.shape[0], *[1] * (x.ndim - 2), -1) * x


def _attention(attn: nn.Module, x: torch.Tensor, rope: torch.Tensor | None) -> torch.Tensor:
    """timm EvaAttention.forward of K models on x [K, B, N, C] (rope shared: it depends only on the grid)."""
    kk, b, n, c = x.shape
    if attn.qkv is None or attn.gate is not None or not isinstance(attn.norm, nn.Identity) \
            or not isinstance(attn.q_norm, nn.Identity) or not isinstance(attn.k_norm, nn.Identity):
        raise NotImplementedError("stacked attention supports timm EvaAttention with a fused qkv, no q/k norm, no "
                                  "scale norm and no gate (the DINOv3 configuration)")
    bias = None if attn.q_bias is None else torch.cat((attn.q_bias, attn.k_bias, attn.v_bias), dim=-1)
    qkv = _linear(x.reshape(kk, b * n, c), attn.qkv.weight, bias)
    q, k, v = qkv.view(kk * b, n, 3, attn.num_heads, -1).permute(2, 0, 3, 1, 4).unbind(0)
    if rope is not None:
        npt, half = attn.num_prefix_tokens, getattr(attn, "rotate_half", False)
        q = torch.cat([q[:, :, :npt, :], apply_rot_embed_cat(q[:, :, npt:, :], rope, half=half)], dim=2).type_as(v)
        k = torch.cat([k[:, :, :npt, :], apply_rot_embed_cat(k[:, :, npt:, :], rope, half=half)], dim=2).type_as(v)
    drop = attn.attn_drop.p if attn.training else 0.0
    if drop > 0 or (attn.training and attn.proj_drop.p > 0):
        raise NotImplementedError("stacked attention: dropout would draw differently than alone")
    y = F.scaled_dot_product_attention(q, k, v)
    y = y.transpose(1, 2).reshape(kk, b * n, c)
    return _linear(y, attn.proj.weight, attn.proj.bias).view(kk, b, n, c)


def _mlp(mlp: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """timm Mlp.forward of K models (fc1, act, norm, fc2; dropout must be off)."""
    if type(mlp).__name__ != "Mlp" or isinstance(mlp.fc1, nn.Conv2d):
        raise NotImplementedError(f"stacked training: dense MLP {type(mlp).__name__} is not supported (timm Mlp)")
    if mlp.training and (mlp.drop1.p > 0 or mlp.drop2.p > 0):
        raise NotImplementedError("stacked MLP: dropout would draw differently than alone")
    h = _norm(mlp.act(_lin(x, mlp.fc1)), mlp.norm)
    return _lin(h, mlp.fc2)


def _block(blk: nn.Module, x: torch.Tensor, rope: torch.Tensor | None, task_index: int,
           task_vec: torch.Tensor | None) -> torch.Tensor:
    """timm EvaBlock.forward of K models on x [K, B, N, C]; an MoE MLP routes natively (:func:`stacked_moe`)."""
    if not (isinstance(blk.drop_path1, nn.Identity) and isinstance(blk.drop_path2, nn.Identity)):
        raise NotImplementedError("stacked training: drop-path would draw differently than alone")
    x = x + _scale(_attention(blk.attn, _norm(x, blk.norm1), rope), blk.gamma_1)
    h = _norm(x, blk.norm2)
    if isinstance(blk.mlp, TaskMoEMlp):
        y = stacked_moe(blk.mlp, h.reshape(h.shape[0], -1, h.shape[-1]), task_index, task_vec).view_as(h)
    else:
        y = _mlp(blk.mlp, h)
    return x + _scale(y, blk.gamma_2)


def _check_supported(model: MultiTaskModel) -> None:
    """Raise NotImplementedError unless the backbone is the timm Eva (DINOv3) configuration written out here."""
    vit = getattr(model.backbone, "vit", None)
    if vit is None or type(vit).__name__ != "Eva":
        raise NotImplementedError(f"stacked training supports the m2dino model (timm Eva backbone), not "
                                  f"{type(model.backbone).__name__}")
    if getattr(vit, "rope_mixed", False) or vit.grad_checkpointing or vit.patch_drop is not None \
            or vit.pos_embed is not None or not isinstance(vit.norm_pre, nn.Identity):
        raise NotImplementedError("stacked training: mixed rope, patch dropout, gradient checkpointing, an absolute "
                                  "position embedding and a pre-norm are not supported")
    if vit.training and vit.pos_drop.p > 0:
        raise NotImplementedError("stacked training: position dropout would draw differently than alone")
    for i, blk in enumerate(vit.blocks):
        if type(blk).__name__ != "EvaBlock":
            raise NotImplementedError(f"stacked training: block {i} is a {type(blk).__name__}, not an EvaBlock")
    for name, mod in model.named_modules():
        if (isinstance(mod, nn.Dropout) and mod.p > 0) or (type(mod).__name__ == "DropPath"
                                                            and getattr(mod, "drop_prob", 0) > 0):
            raise NotImplementedError(f"stacked training: {name} would draw random numbers differently than alone")


class StackedModel(nn.Module):
    """K :class:`MultiTaskModel` s of one architecture and task list as one module.

    ``forward(images [K, B, ...], task_id) -> {"out": [K, B, ...], "aux_loss": [K]}`` and
    ``task_loss(out, target [K, B, ...], task_id) -> [K]`` follow the model contract with a leading model dimension.
    :meth:`member_state_dict` and :meth:`load_member_state_dict` read and write one model with the keys it has alone.
    """

    SHARED = ("backbone.vit.rope",)  # modules computed from the config alone, the same in every model: not stacked

    def __init__(self, models: Sequence[MultiTaskModel]) -> None:
        super().__init__()
        if not models:
            raise ValueError("StackedModel needs at least one model")
        first = models[0]
        _check_supported(first)
        keys = {k: v.shape for k, v in first.state_dict().items()}
        for i, m in enumerate(models[1:], 1):
            if m.task_ids != first.task_ids or {k: v.shape for k, v in m.state_dict().items()} != keys:
                raise ValueError(f"model {i} differs from model 0 in its tasks or tensors: only models of one "
                                 f"architecture and task list can be stacked")
        self.k = len(models)
        for m in first.backbone.moes.values():
            m.aux = {}  # the last forward's losses hold a graph, which deepcopy refuses; nothing reads them now
        self.net = copy.deepcopy(first)
        mods = [dict(m.named_modules()) for m in models]
        for name, mod in self.net.named_modules():
            if any(name == s or name.startswith(s + ".") for s in self.SHARED):
                for bname, b in mod.named_buffers(recurse=False):
                    if any(not torch.equal(b, getattr(ms[name], bname)) for ms in mods):
                        raise ValueError(f"{name}.{bname} differs between the models: it cannot be shared")
                continue
            for pname, p in list(mod.named_parameters(recurse=False)):
                stacked = torch.stack([getattr(ms[name], pname).detach() for ms in mods])
                setattr(mod, pname, nn.Parameter(stacked, requires_grad=p.requires_grad))
            for bname, b in list(mod.named_buffers(recurse=False)):
                persistent = bname not in mod._non_persistent_buffers_set
                mod.register_buffer(bname, torch.stack([getattr(ms[name], bname) for ms in mods]),
                                    persistent=persistent)
        self.task_ids = list(first.task_ids)
        self.train(first.training)

    # ---- one member's tensors, with the keys it has alone ----
    def member_state_dict(self, k: int) -> dict[str, torch.Tensor]:
        """Model k's state dict, as the model alone has it (copies; with the module versions in ``_metadata``)."""
        sd = self.net.state_dict()
        out = OrderedDict((name, v[k].clone()) for name, v in sd.items())
        out._metadata = sd._metadata  # type: ignore[attr-defined]
        return out

    def load_member_state_dict(self, k: int, state: Mapping[str, torch.Tensor]) -> None:
        """Overwrite model k's tensors with ``state`` (a state dict of the model alone)."""
        own = self.net.state_dict()
        if set(own) != set(state):
            raise KeyError(f"member state dict keys differ: missing {sorted(set(own) - set(state))[:5]}, "
                           f"unexpected {sorted(set(state) - set(own))[:5]}")
        with torch.no_grad():
            for name, v in own.items():
                v[k].copy_(state[name])

    # ---- forward ----
    def _patch_embed(self, images: torch.Tensor) -> torch.Tensor:
        """timm's patch embedding of each model in turn (a strided conv: one call per model, as alone)."""
        pe = self.net.backbone.vit.patch_embed
        params = dict(pe.named_parameters())
        return torch.stack([functional_call(pe, {n: p[k] for n, p in params.items()}, (images[k],))
                            for k in range(self.k)])

    def features(self, images: torch.Tensor, task_index: int) -> list[torch.Tensor]:
        """The backbone's feature maps of K models: a list of [K, B, C, h, w] (DinoBackbone.forward per model)."""
        bb = self.net.backbone
        vit = bb.vit
        kk, b, _, height, width = images.shape
        x = self._patch_embed(images)  # [K, B, h, w, C] (timm's dynamic image size: NHWC)
        gh, gw = vit.patch_embed.dynamic_feat_size((height, width))
        x = x.reshape(kk, b, gh * gw, x.shape[-1])
        prefix = [t.expand(kk, b, -1, -1) for t in (vit.cls_token, vit.reg_token) if t is not None]
        x = torch.cat(prefix + [x], dim=2) if prefix else x
        rope = vit.rope.get_embed(shape=(gh, gw)) if vit.rope is not None else None
        take = set(bb.feature_blocks)
        task_vec = bb.task_embed.weight[:, task_index] if bb.moes else None  # [K, T]
        feats = []
        for i, blk in enumerate(vit.blocks[:max(take) + 1]):
            x = _block(blk, x, rope, task_index, task_vec)
            if i in take:
                feats.append(_norm(x, vit.norm))
        npt = vit.num_prefix_tokens
        return [f[:, :, npt:].reshape(kk, b, gh, gw, -1).permute(0, 1, 4, 2, 3).contiguous() for f in feats]

    def aux_loss(self) -> torch.Tensor:
        """[K]: each model's weighted balance + z-loss of the last forward (mean over its MoE layers)."""
        moes = list(self.net.backbone.moes.values())
        if not moes:
            return torch.zeros(self.k)
        bal = torch.stack([m.aux["balance"] for m in moes]).mean(dim=0)
        z = torch.stack([m.aux["z"] for m in moes]).mean(dim=0)
        return self.net.balance_weight * bal + self.net.z_weight * z

    def forward(self, images: torch.Tensor, task_id: str) -> dict[str, torch.Tensor]:
        if images.ndim != 5 or images.shape[0] != self.k:
            raise ValueError(f"expected images [K={self.k}, B, C, H, W], got {tuple(images.shape)}")
        feats = self.features(images, self.net.task_index(task_id))
        return {"out": self.head(feats, images, task_id), "aux_loss": self.aux_loss()}

    def head(self, feats: list[torch.Tensor], images: torch.Tensor, task_id: str) -> torch.Tensor:
        head = self.net.heads[task_id]
        size = tuple(images.shape[-2:])
        params, buffers = dict(head.named_parameters()), dict(head.named_buffers())
        outs = []
        for k in range(self.k):
            kw = {"image": images[k]} if getattr(head, "uses_image", False) else {}
            tensors = {n: p[k] for n, p in params.items()} | {n: b[k] for n, b in buffers.items()}
            outs.append(functional_call(head, tensors, ([f[k] for f in feats], size), kw))
        return torch.stack(outs)

    def task_loss(self, out: Mapping[str, torch.Tensor] | torch.Tensor, target: torch.Tensor,
                  task_id: str) -> torch.Tensor:
        """[K]: each model's own task loss (without the auxiliary loss), computed as alone, one model at a time."""
        pred = out["out"] if isinstance(out, Mapping) else out
        head = self.net.heads[task_id]
        return torch.stack([head.loss(pred[k], target[k]) for k in range(self.k)])

    # ---- routing counts, per member ----
    def routing_counts(self, k: int) -> dict[str, dict[int, list[int]]]:
        """Model k's routing counts, as :meth:`MultiTaskModel.routing_counts`."""
        moes = self.net.backbone.moes
        return {t: {b: m.counts[k, i].tolist() for b, m in moes.items()} for i, t in enumerate(self.task_ids)}

    def reset_routing_counts(self) -> None:
        for m in self.net.backbone.moes.values():
            m.counts.zero_()

