"""The in-house backbone: saved in timm's keys (strict load), cached by the config hash, resolved from model.weights."""
import pytest
import timm
import torch
from omegaconf import OmegaConf
from safetensors.torch import load_file

from m2dino.config import load
from m2dino.pretrain import loop, store


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def cfg(tmp_path):
    c = load(["profile=smoke", f"results_dir={tmp_path}", "pretrain.steps=2", "pretrain.images_per_task=1",
              "pretrain.batch_size=4"])
    return c


def test_saved_backbone_loads_strictly_into_a_fresh_timm_model(cfg):
    path = store.ensure_pretrained(cfg)
    assert path == store.backbone_path(cfg) and path.name == "backbone.safetensors"
    assert path.parent.parent == store.results_dir(cfg) / "pretrain"
    sd = load_file(str(path))
    fresh = timm.create_model(cfg.model.arch, pretrained=False, img_size=cfg.model.img_size, num_classes=0,
                              **OmegaConf.to_container(cfg.model.overrides))
    assert set(sd) == set(fresh.state_dict())
    fresh.load_state_dict(sd, strict=True)
    assert not torch.equal(sd["patch_embed.proj.weight"], torch.zeros_like(sd["patch_embed.proj.weight"]))
    log = store.load_log(cfg)
    assert list(log.step) == [0, 1] and log.loss.notna().all()
    assert (path.parent / "config.yaml").is_file()


def test_cache_hit_skips_the_pretraining(cfg, monkeypatch):
    first = store.ensure_pretrained(cfg)
    stamp = first.stat().st_mtime_ns

    def boom(*a, **k):
        raise AssertionError("pretraining ran despite a cached backbone")

    monkeypatch.setattr(loop, "pretrain", boom)
    assert store.ensure_pretrained(cfg) == first and first.stat().st_mtime_ns == stamp
    cfg.pretrain.steps = 3  # a different budget is a different backbone: not a hit
    with pytest.raises(AssertionError, match="pretraining ran"):
        store.ensure_pretrained(cfg)


def test_hash_covers_what_determines_the_weights_and_nothing_else(cfg):
    h = store.pretrain_dir(cfg).name
    for key, value in [("pretrain.lr", 1e-3), ("pretrain.seed", 1), ("model.img_size", 48),
                       ("model.overrides.depth", 2), ("data.image_size", 48)]:
        c = cfg.copy()
        OmegaConf.update(c, key, value)
        assert store.pretrain_dir(c).name != h, key
    for key, value in [("seed", 3), ("train.epochs", 9), ("model.moe.num_experts", 2), ("model.weights", None),
                       ("runtime.pretrain_auto", False), ("plan.probe.n_boot", 7)]:
        c = cfg.copy()
        OmegaConf.update(c, key, value)
        assert store.pretrain_dir(c).name == h, key


def test_model_weights_resolution(cfg):
    assert cfg.model.weights == store.INHOUSE  # the smoke profile points at the in-house backbone
    cfg.runtime.pretrain_auto = False
    with pytest.raises(FileNotFoundError, match="python -m m2dino pretrain profile=smoke"):
        store.resolve_weights(cfg)
    cfg.runtime.pretrain_auto = True
    path = store.resolve_weights(cfg)
    assert path == str(store.backbone_path(cfg))
    cfg.runtime.pretrain_auto = False
    assert store.resolve_weights(cfg) == path  # cached now: no error
    cfg.model.weights = None
    assert store.resolve_weights(cfg) is None
    cfg.model.weights = "/some/meta/dinov3.pth"
    assert store.resolve_weights(cfg) == "/some/meta/dinov3.pth"
    other = load(["profile=smoke", "model=fmc_baseline"])
    assert other.model.weights == store.INHOUSE and store.resolve_weights(other) is None


def test_build_model_loads_the_inhouse_backbone_through_model_weights(cfg):
    from m2dino.model import build_model

    cfg.model.moe.enabled = False
    with pytest.raises(ValueError, match="resolve it first"):
        build_model(cfg, ["organ_cls"])  # a name is not a file: building never pretrains
    model = build_model(store.with_resolved_weights(cfg), ["organ_cls"])
    assert cfg.model.weights == store.INHOUSE  # the caller's config is left as it was
    sd = load_file(str(store.backbone_path(cfg)))  # built on first use (runtime.pretrain_auto)
    vit_sd = model.backbone.vit.state_dict()
    assert all(torch.equal(vit_sd[k], v) for k, v in sd.items())
    assert torch.equal(store.load_backbone(cfg).state_dict()["blocks.0.attn.qkv.weight"], sd["blocks.0.attn.qkv.weight"])


_SAVE_IN_A_FRESH_PROCESS = """
import sys, pandas as pd, torch
from m2dino.config import load
from m2dino.pretrain import store
cfg = load(["profile=smoke", "results_dir=" + sys.argv[1]])
torch.manual_seed(0)
print(store.save(cfg, torch.nn.Linear(4, 3), pd.DataFrame({"step": [0], "loss": [1.0]})))
"""


def test_the_same_weights_give_the_same_file_bytes_in_every_process(tmp_path):
    """safetensors writes its header's metadata in hash-map order, random per process: the file must not depend on
    it (it did with three metadata keys)."""
    import subprocess
    import sys

    files = [subprocess.run([sys.executable, "-c", _SAVE_IN_A_FRESH_PROCESS, str(tmp_path / str(i))], check=True,
                            capture_output=True, text=True).stdout.strip() for i in range(3)]
    data = [open(f, "rb").read() for f in files]
    assert data[0] == data[1] == data[2]
