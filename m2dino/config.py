"""One configuration for notebooks, CLI and tests: Hydra's compose API over the tree in ``m2dino/conf``."""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence

from hydra import compose, initialize_config_dir
from hydra.errors import HydraException, MissingConfigException
from omegaconf import DictConfig, OmegaConf

from m2dino import provenance
from m2dino.errors import ConfigError  # re-exported: m2dino.config.ConfigError
from m2dino.paths import CONF_DIR  # re-exported: m2dino.config.CONF_DIR

PROFILE_ENV = "M2DINO_PROFILE"


def load(overrides: Sequence[str] = ()) -> DictConfig:
    """Compose the config with Hydra overrides, e.g. ``load(["profile=smoke", "paradigm=single"])``.

    ``grouping=`` takes a packaged grouping's name or a path to a YAML file in the same format (e.g. the data-derived
    ``results/<profile>/groupings/affinity.yaml``; relative paths are taken from the current directory).
    Without a ``profile=`` override, the ``M2DINO_PROFILE`` environment variable picks the profile (demo if unset).
    Safe to call repeatedly (notebooks re-run cells): it does not leave Hydra's global state initialised.
    An option or key that does not exist raises :class:`ConfigError` naming it (``profile=nope: no such profile``).
    """
    overrides = list(overrides)
    grouping_file = _grouping_file(overrides)
    if grouping_file:  # grouping=<path to a YAML file>: compose with the default, then put the file's grouping in
        overrides = [o for o in overrides if o.split("=", 1)[0].lstrip("+~") != "grouping"]
    if not any(o.split("=", 1)[0].lstrip("+~") == "profile" for o in overrides) and os.environ.get(PROFILE_ENV):
        overrides.append(f"profile={os.environ[PROFILE_ENV]}")
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3", job_name="m2dino"):
        try:
            cfg = compose(config_name="config", overrides=overrides)
        except HydraException as e:
            raise _config_error(e) from e
    OmegaConf.set_readonly(cfg, False)
    provenance.note_config(cfg)  # figures saved later record its profile and seeds
    if grouping_file:
        from m2dino.grouping import read_grouping_file

        cfg.grouping = OmegaConf.create(read_grouping_file(grouping_file))
    return cfg


def _config_error(e: HydraException) -> ConfigError:
    """Hydra's composition error as a :class:`ConfigError` that names the key, without the search path."""
    missing = getattr(e, "missing_cfg_file", None)
    if isinstance(e, MissingConfigException) and missing and "/" in missing:
        group, name = missing.rsplit("/", 1)
        source = f" (from ${PROFILE_ENV})" if group == "profile" and os.environ.get(PROFILE_ENV) == name else ""
        options = f"; available: {', '.join(e.options)}" if e.options else ""
        return ConfigError(f"{group}={name}{source}: no such {group} in m2dino/conf/{group}/{options}")
    return ConfigError(str(e).split("\nConfig search path:")[0])


def _grouping_file(overrides: Sequence[str]) -> str | None:
    """The path of a ``grouping=<file>.yaml`` override (a grouping outside the package), or None."""
    from m2dino.grouping import is_grouping_path

    for o in overrides:
        key, _, value = o.partition("=")
        if key.lstrip("+~") == "grouping" and value and is_grouping_path(value):
            return value
    return None


# Bumped whenever a code change alters what a config computes, so that cached results of the old code are not reused
# (the in-house backbone's cache has its own, m2dino.pretrain.store.BACKBONE_VERSION). 2: fused AdamW (m2dino/optim.py);
# 3: the step floor is per task, the same in every paradigm (m2dino/data/sampling.task_repeats).
RESULTS_VERSION = 3


def config_hash(cfg: DictConfig | dict, keys: Sequence[str] | None = None, version: int | None = None) -> str:
    """A short stable hash of the resolved config (or of some of its top-level keys) and a code ``version`` (None:
    :data:`RESULTS_VERSION`, read when called), for caching results."""
    version = RESULTS_VERSION if version is None else version
    c = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
    if keys is not None:
        c = {k: c.get(k) for k in keys}
    c = {"config": c, "results_version": int(version)}
    return hashlib.sha256(json.dumps(c, sort_keys=True, default=str).encode()).hexdigest()[:12]
