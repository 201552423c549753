"""Pretrain the in-house DINOv3-architecture backbone self-supervised on unlabelled synthetic scans, or find it cached.

``python -m m2dino pretrain profile=demo`` writes ``results/<profile>/pretrain/<hash>/backbone.safetensors`` (timm's
DINOv3 keys), ``loss.csv`` and ``config.yaml``; a second call with the same config finds the cache and does nothing.
``--force`` retrains. Training runs then use it through ``model.weights=pretrained:inhouse`` (the CPU profiles'
default). Probes and figures: notebook 02_backbone_pretraining.
"""
from __future__ import annotations

from m2dino.config import load
from m2dino.pretrain import store

HELP = "self-supervised pretraining of the in-house DINOv3 backbone (cached by config hash)"


def main(argv: list[str]) -> int:
    force = "--force" in argv
    cfg = load([a for a in argv if a != "--force"])
    path = store.backbone_path(cfg)
    if path.is_file() and not force:
        print(f"cached: {path}")
    else:
        path = store.ensure_pretrained(cfg, force=force)
        print(f"wrote: {path}")
    log = store.load_log(cfg)
    head, tail = log.loss.iloc[: max(1, len(log) // 10)].mean(), log.loss.iloc[-max(1, len(log) // 10):].mean()
    print(f"{cfg.pretrain.objective}: {len(log)} steps in {log.seconds.iloc[-1]:.0f} s; "
          f"loss {head:.3f} (first 10%) -> {tail:.3f} (last 10%)")
    return 0
