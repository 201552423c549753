"""Where the in-house backbone lives, how it is cached, and what ``model.weights`` resolves to (the one place).

``results/<profile>/pretrain/<hash>/`` holds ``backbone.safetensors`` (timm's DINOv3 keys: loads strictly into
``timm.create_model(model.arch, img_size=..., num_classes=0, **overrides)``), ``loss.csv`` and ``config.yaml``. The
hash covers everything that determines the weights: the whole ``pretrain`` section (the probes that evaluate them
are ``plan.probe``), the model's arch/img_size/overrides, the data image size and the profile name (part of the
generators' seed key). A folder with ``backbone.safetensors`` is a cache hit; folders are written whole or not at
all.
"""
from __future__ import annotations

import copy
import shutil
import tempfile
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig, OmegaConf
from safetensors.torch import save_file
from torch import nn

from m2dino.config import ConfigError, config_hash
from m2dino.paths import results_dir

# Bumped whenever a code change alters the pretrained weights of a config (2: fused AdamW, and the tokens are no
# longer weight-decayed, as in fine-tuning; m2dino/optim.py).
BACKBONE_VERSION = 2
INHOUSE = "pretrained:inhouse"  # the value of model.weights that means "m2dino's own pretrained backbone"
BACKBONE = "backbone.safetensors"


def determining(cfg: DictConfig) -> dict:
    """The parts of the config that determine the pretrained weights (and nothing else)."""
    m = cfg.model
    return {"pretrain": OmegaConf.to_container(cfg.pretrain, resolve=True),
            "model": {"arch": m.arch, "img_size": int(m.img_size),
                      "overrides": OmegaConf.to_container(m.overrides, resolve=True)},
            "data": {"image_size": int(cfg.data.image_size)}, "profile": str(cfg.profile.name)}


def pretrain_dir(cfg: DictConfig) -> Path:
    """``results/<profile>/pretrain/<hash>``: the cache folder of this config's backbone."""
    return results_dir(cfg) / "pretrain" / config_hash(determining(cfg), version=BACKBONE_VERSION)


def backbone_path(cfg: DictConfig) -> Path:
    return pretrain_dir(cfg) / BACKBONE


def save(cfg: DictConfig, backbone: nn.Module, log: pd.DataFrame) -> Path:
    """Write backbone, loss log and config into the cache folder atomically; return the weight file."""
    final = pretrain_dir(cfg)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=final.parent))
    try:
        sd = {k: v.detach().contiguous().clone() for k, v in backbone.state_dict().items()}
        # one metadata key: safetensors writes the header's metadata in hash-map order, which differs between
        # processes, so several keys gave byte-different files for the same weights (arch and objective are in
        # config.yaml beside it)
        save_file(sd, str(tmp / BACKBONE), metadata={"format": "pt"})
        log.to_csv(tmp / "loss.csv", index=False)
        (tmp / "config.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(determining(cfg))))
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final / BACKBONE


def ensure_pretrained(cfg: DictConfig, force: bool = False) -> Path:
    """The cached backbone file of ``cfg``, pretraining it first if it is missing (or ``force``)."""
    path = backbone_path(cfg)
    if path.is_file() and not force:
        return path
    from m2dino.pretrain.loop import pretrain

    print(f"pretraining the in-house backbone ({cfg.pretrain.objective}, {cfg.pretrain.steps} steps) -> {path.parent}")
    backbone, log = pretrain(cfg)
    return save(cfg, backbone, log)


def load_log(cfg: DictConfig) -> pd.DataFrame:
    """The loss log of the cached backbone of ``cfg``."""
    return pd.read_csv(pretrain_dir(cfg) / "loss.csv")


def resolve_weights(cfg: DictConfig) -> str | None:
    """What ``model.weights`` means as a file path: null stays None, a path stays itself, ``pretrained:inhouse``
    becomes the cached in-house backbone (built first if missing and ``runtime.pretrain_auto``; otherwise a clear error).

    The in-house backbone is a DINOv3 ViT: for another model family (fmc_baseline) it resolves to None (random init).
    """
    w = cfg.model.weights
    if not w or str(w) != INHOUSE:
        return None if not w else str(w)
    if str(cfg.model.name) != "m2dino":
        return None
    path = backbone_path(cfg)
    if path.is_file():
        return str(path)
    if not cfg.runtime.pretrain_auto:
        raise FileNotFoundError(
            f"model.weights={INHOUSE}: no pretrained backbone at {path}. Build it with "
            f"`python -m m2dino pretrain profile={cfg.profile.name}` or notebook 02_backbone_pretraining, "
            f"or set model.weights=null for random init.")
    return str(ensure_pretrained(cfg))


def check_weights(cfg: DictConfig) -> None:
    """``model.weights`` is null, ``pretrained:inhouse`` or a file that exists; else a :class:`ConfigError` naming
    the key (``python -m m2dino train`` checks this before anything else, so a typo does not surface hours in)."""
    w = cfg.model.get("weights")
    if w and str(w) != INHOUSE and not Path(str(w)).expanduser().is_file():
        raise ConfigError(
            f"model.weights={w}: no such file. Give a local weight file (Meta's DINOv3 .pth or a timm .safetensors; "
            f"nothing is ever downloaded), {INHOUSE} (m2dino's own backbone, CPU profiles) or null (random init)")


def with_resolved_weights(cfg: DictConfig) -> DictConfig:
    """A copy of ``cfg`` whose ``model.weights`` is a file path or null (:func:`resolve_weights`), ready for
    ``m2dino.model.build_model``, which only loads files."""
    out = copy.deepcopy(cfg)
    out.model.weights = resolve_weights(cfg)
    return out


def load_backbone(cfg: DictConfig, path: str | Path | None = None) -> nn.Module:
    """A fresh timm backbone of the profile with the weights at ``path`` (default: the cached in-house backbone),
    loaded exactly as ``model.weights=`` loads Meta's (``m2dino.model.weights.load_dinov3``, strict)."""
    from m2dino.model.weights import load_dinov3
    from m2dino.pretrain.loop import create_backbone

    backbone = create_backbone(cfg)
    load_dinov3(backbone, path or backbone_path(cfg))
    return backbone.eval()
