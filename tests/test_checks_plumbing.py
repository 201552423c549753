"""What the paper rehearsal (python -m m2dino rehearse) is made of, at a tiny size: the Meta-format weight file loads
through the real loader, and the release-layout data passes validation with the release's variety."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from PIL import Image

from m2dino.checks.meta_weights import write_meta_checkpoint
from m2dino.checks.release_data import write_release
from m2dino.data.validate import validate_dataset
from m2dino.model.backbone import create_vit
from m2dino.model.weights import load_dinov3
from m2dino.registry import all_tasks

pytestmark = pytest.mark.usefixtures("one_thread")
TINY = {"embed_dim": 48, "depth": 3, "num_heads": 2}


def _meta_keys(depth: int) -> set[str]:
    """The state-dict keys of Meta's DinoVisionTransformer with storage tokens, LayerScale and a masked-k qkv bias
    (facebookresearch/dinov3: models/vision_transformer.py, layers/{block,attention,layer_scale,
    rope_position_encoding}.py), written out from its module structure, independently of timm's converter."""
    block = ["norm1.weight", "norm1.bias", "attn.qkv.weight", "attn.qkv.bias", "attn.qkv.bias_mask",
             "attn.proj.weight", "attn.proj.bias", "ls1.gamma", "norm2.weight", "norm2.bias", "mlp.fc1.weight",
             "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias", "ls2.gamma"]
    return {"cls_token", "storage_tokens", "mask_token", "patch_embed.proj.weight", "patch_embed.proj.bias",
            "rope_embed.periods", "norm.weight", "norm.bias"} | {f"blocks.{i}.{k}" for i in range(depth) for k in block}


@pytest.mark.parametrize("arch", ["vit_small_patch16_dinov3", "vit_small_patch16_dinov3_qkvb"])
def test_meta_format_file_round_trips_through_the_real_loader(tmp_path: Path, arch: str) -> None:
    path, src = write_meta_checkpoint(tmp_path / "dinov3_meta.pth", arch, 32, TINY, seed=3)
    sd = torch.load(path, weights_only=True)
    assert set(sd) == _meta_keys(TINY["depth"])
    assert sd["storage_tokens"].shape == (1, 4, 48) and sd["mask_token"].shape == (1, 48)
    assert sd["blocks.0.attn.qkv.bias"].shape == (144,) and sd["rope_embed.periods"].shape == (6,)
    dst = create_vit(arch, 32, TINY)
    load_dinov3(dst, path)  # the path model.weights= takes (strict: every key used, none missing)
    for k, v in src.state_dict().items():
        assert torch.equal(dst.state_dict()[k], v), k  # every tensor distinct and random: a swapped name fails


def test_release_layout_passes_validation_with_the_release_variety(tmp_path: Path) -> None:
    root = write_release(tmp_path / "FMC_UIA", {"train": 2, "val": 1, "test": 1}, scale=0.1)
    report = validate_dataset(root, None, use_cache=False, min_train=1)
    assert report.ok and not report.warnings, report.format()
    assert report.layout == "challenge" and set(report.summary["task"]) == {t.id for t in all_tasks()}
    images = [p for p in root.rglob("images/*")]
    modes = {(p.suffix, Image.open(p).mode) for p in images}
    assert {(".jpg", "RGB"), (".png", "L"), (".png", "RGB")} <= modes
    sizes = {Image.open(p).size for p in images}
    assert len(sizes) >= 4 and all(w != h for w, h in sizes)
    folders = {re.sub(r"/[^/]+/(images|masks)/.*", "", str(p.relative_to(root / "train")))
               for p in (root / "train").rglob("*.*") if "csv_files" not in p.parts}
    assert folders == {"Segmentation/Two", "Segmentation/Three", "Segmentation/Four", "Segmentation/Five",
                       "Classification", "Detection", "Regression"}


def test_timed_runs_the_command_and_counts_its_optimiser_steps(smoke_data, tmp_path: Path) -> None:
    """The rehearsal's timer: `python -m m2dino train` unchanged, plus when each optimiser step ended."""
    import json

    from m2dino.checks import timed

    out = tmp_path / "timed.json"
    rc = timed.main([str(out), "train", "profile=smoke", "paradigm=single", "tasks=[breast_2cls]",
                     f"data.root={smoke_data}", f"results_dir={tmp_path}", "model.weights=null", "train.n_boot=0"])
    info = json.loads(out.read_text())
    run = json.loads((tmp_path / "smoke" / "single" / "breast_2cls" / "seed0" / "run.json").read_text())
    assert rc == 0 == info["rc"] and len(info["step_ends"]) == run["steps"] > 0
    assert info["params"] > 0 and info["peak_rss_GiB"] > 0
