"""The B-mode model's physics: fully developed speckle, cyst contrast, shadowing and enhancement, PSF caching."""
from __future__ import annotations

import numpy as np
import pytest

from m2dino.synth import psf
from m2dino.synth.bmode import Acquisition, bmode, envelope
from m2dino.synth.geometry import geometry
from m2dino.synth.scene import BONE, FLUID, SOFT, Blob, Scene

N = 96


@pytest.mark.parametrize("kind", ["linear", "convex", "phased"])
def test_homogeneous_region_is_fully_developed_speckle(kind: str) -> None:
    g = geometry(kind, N)
    env = envelope(np.ones((N, N), np.float32), None, g, np.random.default_rng(1))
    region = env[8:-8, 8:-8]  # away from the convolution's borders
    ratio = region.mean() / region.std()
    assert abs(ratio - 1.91) < 0.15, ratio


def _scene(shape_tissue: list) -> Scene:
    s = Scene("linear", background=SOFT, acq=Acquisition(noise_db=-40.0))
    for shape, tissue in shape_tissue:
        s.add(shape, tissue, "target")
    return s


def _image(s: Scene, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    g = geometry(s.kind, N)
    ids = s.paint(g.grid())
    ids_sim = g.to_sim(ids)
    amp, att = s.maps(ids_sim, np.random.default_rng(seed))
    rng = np.random.default_rng(seed + 1)
    env = envelope(amp, att, g, rng, s.acq)
    img = bmode(amp, att, g, np.random.default_rng(seed + 1), s.acq)
    return env, img, ids


def test_anechoic_cyst_at_least_20_db_below_background() -> None:
    s = _scene([(Blob(0.5, 0.45, 0.15, 0.15), FLUID)])
    env, img, ids = _image(s)
    inner = Blob(0.5, 0.45, 0.11, 0.11)(geometry("linear", N).grid())  # interior, clear of the PSF's blur
    rows = slice(int(0.34 * N), int(0.56 * N))
    beside = np.zeros_like(inner)
    beside[rows, : int(0.25 * N)] = True
    beside[rows, int(0.75 * N):] = True
    db = 20 * np.log10(env[inner].mean() / env[beside].mean())
    assert db <= -20, db
    # and on the 8-bit image, in the acquisition's dB scale
    grey_db = (img[inner].mean() - img[beside].mean()) / 255 * s.acq.dynamic_range
    assert grey_db <= -20, grey_db


def test_bone_shadows_and_fluid_enhances_what_lies_behind() -> None:
    s = _scene([(Blob(0.25, 0.3, 0.1, 0.04), BONE), (Blob(0.75, 0.3, 0.1, 0.08), FLUID)])
    env, _, _ = _image(s, seed=3)
    below = slice(int(0.55 * N), int(0.8 * N))
    ref = env[below, int(0.45 * N):int(0.55 * N)].mean()
    shadow = env[below, int(0.2 * N):int(0.3 * N)].mean()
    enhanced = env[below, int(0.7 * N):int(0.8 * N)].mean()
    assert 20 * np.log10(shadow / ref) < -15
    assert 20 * np.log10(enhanced / ref) > 2


def test_psf_sets_cache_and_reload(tmp_path) -> None:
    a = psf.load_psf.__wrapped__("phased", tmp_path)
    files = list(tmp_path.glob("phased-*.npz"))
    assert len(files) == 1
    b = psf.load_psf.__wrapped__("phased", tmp_path)
    np.testing.assert_array_equal(a.axial, b.axial)
    np.testing.assert_array_equal(a.lateral, b.lateral)
    assert a.lateral.shape[0] == psf.PROBES["phased"].bands


def test_sector_psf_widens_with_depth_beyond_focus() -> None:
    s = psf.load_psf("phased")
    fwhm = (s.lateral > 0.5).sum(1)
    assert fwhm[-1] > fwhm[0], fwhm
