"""A weight file in the format of Meta's DINOv3 release, with random values, for rehearsing the paper run.

Meta's checkpoints (``dinov3_vitb16_pretrain_lvd1689m-<hash>.pth``, https://github.com/facebookresearch/dinov3) are
plain state dicts of ``dinov3.models.vision_transformer.DinoVisionTransformer``, loaded there with
``load_state_dict(strict=True)``. Their key names are timm's DINOv3 (``Eva``) names run backwards through timm's own
converter, ``timm.models.eva.checkpoint_filter_fn``, which is also the converter m2dino loads real weights with
(``m2dino.model.weights.load_dinov3``):

- ``reg_token`` is ``storage_tokens``; ``blocks.<i>.gamma_1``/``gamma_2`` are ``blocks.<i>.ls1.gamma``/``ls2.gamma``;
- the attention's biases are one ``blocks.<i>.attn.qkv.bias`` (query, key, value; the key's part is masked to 0 by
  ``blocks.<i>.attn.qkv.bias_mask``, Meta's ``LinearKMaskedBias``); a timm model without ``q_bias``/``v_bias``
  (``vit_base_patch16_dinov3``: Meta's distilled ViT-B has all-zero biases) gets zeros;
- Meta also stores ``mask_token`` (1 x dim), ``rope_embed.periods`` (head_dim / 4) and the bias masks, which the
  converter drops.

Checked against Meta's repository (``dinov3/models/vision_transformer.py``, ``dinov3/layers/``, and
``dinov3/hub/backbones.py``'s ``dinov3_vitb16``: 4 storage tokens, LayerScale, ``mask_k_bias=True``): the ViT-B/16
file written here has the same 188 keys and shapes as ``dinov3_vitb16(pretrained=False).state_dict()``.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from m2dino.model.backbone import create_vit

ROPE_BASE = 100.0  # pos_embed_rope_base of every DINOv3 ViT in Meta's hub


def meta_state_dict(vit: nn.Module) -> dict[str, torch.Tensor]:
    """A timm DINOv3 model's weights under the names and layout of Meta's checkpoints."""
    sd = vit.state_dict()
    dim = int(vit.embed_dim)
    head_dim = dim // int(vit.blocks[0].attn.num_heads)
    out = {"mask_token": torch.zeros(1, dim),
           "rope_embed.periods": ROPE_BASE ** (2 * torch.arange(head_dim // 4, dtype=torch.float32) / (head_dim // 2))}
    for k, v in sd.items():
        if k.endswith(("attn.q_bias", "attn.v_bias")):
            continue  # folded into qkv.bias below
        k = k.replace("reg_token", "storage_tokens").replace("gamma_1", "ls1.gamma").replace("gamma_2", "ls2.gamma")
        out[k] = v.clone()
        if k.endswith("attn.qkv.weight"):
            b = k[: -len("qkv.weight")]
            q, vb = sd.get(b + "q_bias", torch.zeros(dim)), sd.get(b + "v_bias", torch.zeros(dim))
            out[b + "qkv.bias"] = torch.cat([q, torch.zeros(dim), vb])
            mask = torch.ones(3 * dim)
            mask[dim: 2 * dim] = 0  # Meta's init_weights_vit: the key's bias is masked out
            out[b + "qkv.bias_mask"] = mask
    return out


def random_vit(arch: str, img_size: int, overrides: dict | None = None, seed: int = 0) -> nn.Module:
    """A timm DINOv3 model whose every tensor is random (a fresh init leaves LayerScale and norms constant)."""
    torch.manual_seed(seed)
    vit = create_vit(arch, img_size, overrides)
    with torch.no_grad():
        for p in vit.parameters():
            p.add_(0.02 * torch.randn_like(p))
    return vit.eval()


def write_meta_checkpoint(path: str | Path, arch: str, img_size: int, overrides: dict | None = None,
                          seed: int = 0) -> tuple[Path, nn.Module]:
    """Write a random-valued checkpoint in Meta's format (a plain state dict, ``torch.save``); returns its path and
    the timm model it holds the weights of."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    vit = random_vit(arch, img_size, overrides, seed)
    torch.save(meta_state_dict(vit), path)
    return path, vit
