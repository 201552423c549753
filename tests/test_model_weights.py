"""Loading pretrained weights from a local file: Meta DINOv3 .pth, timm/HF .safetensors, and clear refusals."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from m2dino.config import load
from m2dino.model import build_model
from m2dino.model.backbone import create_vit
from m2dino.model.weights import WeightsError, load_dinov3


pytestmark = pytest.mark.usefixtures("one_thread")

TINY = {"embed_dim": 48, "depth": 4, "num_heads": 2}


def _reference(arch: str = "vit_small_patch16_dinov3") -> torch.nn.Module:
    torch.manual_seed(123)
    vit = create_vit(arch, 32, TINY)
    with torch.no_grad():  # make every tensor distinct from a fresh init (layer scales, biases are constants there)
        for p in vit.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return vit.eval()


def _as_meta(sd: dict[str, torch.Tensor], dim: int, qkv_bias: bool) -> dict[str, torch.Tensor]:
    """Rename a timm DINOv3 state dict to the names of Meta's dinov3 repository checkpoints."""
    out = {"mask_token": torch.zeros(1, dim), "rope_embed.periods": torch.ones(dim // 2 // 4)}
    for k, v in sd.items():
        if k.endswith(("q_bias", "v_bias")):
            continue
        k = k.replace("reg_token", "storage_tokens").replace("gamma_1", "ls1.gamma").replace("gamma_2", "ls2.gamma")
        out[k] = v
        if k.endswith("attn.qkv.weight"):
            b = k.replace("qkv.weight", "")
            q = sd.get(b.replace("ls1.gamma", "gamma_1") + "q_bias", torch.zeros(dim)) if qkv_bias else torch.zeros(dim)
            vb = sd.get(b + "v_bias", torch.zeros(dim)) if qkv_bias else torch.zeros(dim)
            out[b + "qkv.bias"] = torch.cat([q, torch.zeros(dim), vb])
            out[b + "qkv.bias_mask"] = torch.ones(3 * dim)
    return out


def _features(model, x: torch.Tensor) -> list[torch.Tensor]:
    return model.backbone(x, 0)


def _ref_features(vit, x: torch.Tensor) -> list[torch.Tensor]:
    return vit.forward_intermediates(x, indices=[0, 1, 2, 3], norm=True, intermediates_only=True)


@pytest.mark.parametrize("arch", ["vit_small_patch16_dinov3", "vit_small_patch16_dinov3_qkvb"])
def test_meta_pth_loads_and_upcycles_pretrained_mlp(tmp_path: Path, arch: str) -> None:
    ref = _reference(arch)
    path = tmp_path / "dinov3_meta.pth"
    torch.save({"teacher": {f"backbone.{k}": v for k, v in
                            _as_meta(ref.state_dict(), 48, "qkvb" in arch).items()}}, path)
    model = build_model(load(["profile=smoke", f"model.arch={arch}", f"model.weights={path}"]), ["lung"]).eval()
    x = torch.randn(2, 3, 32, 32)
    for a, b in zip(_ref_features(ref, x), _features(model, x)):  # MoE at init == the pretrained dense model
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    moe = model.backbone.moes[3]
    torch.testing.assert_close(moe.w_in[5], ref.blocks[3].mlp.fc1.weight.t())


def test_safetensors_loads(tmp_path: Path) -> None:
    ref = _reference()
    path = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in ref.state_dict().items()}, str(path))
    model = build_model(load(["profile=smoke", "model.moe.enabled=false", f"model.weights={path}"]), ["lung"]).eval()
    x = torch.randn(1, 3, 32, 32)
    for a, b in zip(_ref_features(ref, x), _features(model, x)):
        torch.testing.assert_close(a, b)


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "dinov3_vits16.pth"
    with pytest.raises(FileNotFoundError, match="nowhere/dinov3_vits16.pth"):
        load_dinov3(create_vit("vit_small_patch16_dinov3", 32, TINY), path)


def test_key_problems_are_listed(tmp_path: Path) -> None:
    sd = dict(_reference().state_dict())
    del sd["blocks.1.norm2.weight"]
    sd["blocks.9.extra.weight"] = torch.zeros(3)
    sd["blocks.0.mlp.fc1.weight"] = torch.zeros(7, 48)
    path = tmp_path / "bad.safetensors"
    save_file({k: v.contiguous() for k, v in sd.items()}, str(path))
    with pytest.raises(WeightsError) as err:
        load_dinov3(create_vit("vit_small_patch16_dinov3", 32, TINY), path)
    msg = str(err.value)
    assert str(path) in msg
    assert "missing (1): blocks.1.norm2.weight" in msg
    assert "unexpected (1): blocks.9.extra.weight" in msg
    assert "blocks.0.mlp.fc1.weight: file (7, 48) vs model (192, 48)" in msg


class _Evil:
    """A pickle payload that would create a directory when unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.makedirs, (str(self.marker),)


def test_code_executing_pickle_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({"cls_token": torch.zeros(1), "payload": _Evil(marker)}, path)
    assert not marker.exists()
    with pytest.raises(WeightsError, match="refused"):
        load_dinov3(create_vit("vit_small_patch16_dinov3", 32, TINY), path)
    assert not marker.exists()


def test_not_a_state_dict(tmp_path: Path) -> None:
    path = tmp_path / "list.pth"
    torch.save([torch.zeros(1)], path)
    with pytest.raises(WeightsError, match="list.pth"):
        load_dinov3(create_vit("vit_small_patch16_dinov3", 32, TINY), path)
