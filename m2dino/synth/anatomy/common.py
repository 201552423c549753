"""Helpers shared by the anatomy models: randomised acquisitions and tissue layers under the skin."""
from __future__ import annotations

import numpy as np

from m2dino.synth.bmode import Acquisition
from m2dino.synth.scene import FAT, MUSCLE, SKIN, DepthBand, Scene, Tissue, jitter

# Difficulty knobs (the calibration in data/README.md sets these, and only these, for difficulty):
NOISE_DB = (-30.0, -12.0)  # electronic noise relative to unit tissue, dB (higher = noisier deep field)
DYNAMIC_RANGE = (50.0, 66.0)  # displayed dB range
ECHO_JITTER_DB = 4.0  # per-image variation of every tissue's echogenicity, dB
CONSPICUITY = 1.0  # scales lesion/background echo contrast in dB (1 = as written in the models)


def acquisition(rng: np.random.Generator) -> Acquisition:
    """A randomised acquisition: noise, gain compensation, dynamic range and grey level vary per image."""
    return Acquisition(noise_db=rng.uniform(*NOISE_DB), gain_comp=rng.uniform(0.7, 0.95),
                       dynamic_range=rng.uniform(*DYNAMIC_RANGE), level=rng.uniform(0.5, 0.65))


def contrast(rng: np.random.Generator, lo_db: float, hi_db: float, att: float, tex: float,
             base: float = 1.0) -> Tissue:
    """A tissue whose echo is base x (lo_db..hi_db dB, scaled by CONSPICUITY)."""
    return Tissue(base * 10 ** (CONSPICUITY * rng.uniform(lo_db, hi_db) / 20), att, tex)


def wall(scene: Scene, rng: np.random.Generator, skin: float = 0.03, fat: tuple = (0.04, 0.12),
         muscle: tuple = (0.0, 0.08)) -> float:
    """Skin, fat and muscle under the probe; returns the depth fraction where they end."""
    k, u = scene.kind, rng.uniform
    d1 = skin * u(0.7, 1.3)
    scene.add(DepthBand(k, -0.1, d1, (0.004, u(0.5, 2), u(0, 6.3))), jitter(SKIN, rng, ECHO_JITTER_DB))
    d2 = d1 + u(*fat)
    scene.add(DepthBand(k, d1, d2, (u(0, 0.02), u(0.5, 2), u(0, 6.3))), jitter(FAT, rng, ECHO_JITTER_DB))
    d3 = d2 + u(*muscle)
    if d3 > d2:
        scene.add(DepthBand(k, d2, d3, (u(0, 0.02), u(0.5, 2), u(0, 6.3))), jitter(MUSCLE, rng, ECHO_JITTER_DB))
    return d3
