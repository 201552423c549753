"""The analysis layer's settings per profile, from ``conf/analysis.yaml`` (outside the trained-run config, so that
analysis choices never change a run's hash)."""
from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from m2dino.config import CONF_DIR

SETTINGS_YAML = CONF_DIR / "analysis.yaml"


def settings(profile: str) -> DictConfig:
    """``default`` merged with the profile's own block, e.g. ``settings("smoke").n_boot``."""
    raw = OmegaConf.load(SETTINGS_YAML)
    if "default" not in raw:
        raise ValueError(f"{SETTINGS_YAML}: needs a 'default' block")
    return OmegaConf.merge(raw.default, raw.get(profile) or {})
