"""Transducer point-spread functions from pymust (the Python port of the MUST toolbox), one set per probe.

A set holds, in physical units, the two-way axial pulse as a complex baseband signal (pymust ``getpulse``) and the
two-way lateral beam profile at a few depths (pymust ``pfield``: fixed transmit focus times dynamically focused
receive), so depth dependence comes from the real beam. Sets are cached as ``data/psf/<probe>-<hash>.npz``, keyed by
every parameter that shapes them. :func:`pixel_kernels` turns a set into small per-pixel kernels for one image grid.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.signal import hilbert

from m2dino.paths import DATA

SOUND_SPEED = 1540.0  # m/s
PSF_DIR = DATA / "psf"


@dataclass(frozen=True)
class Probe:
    """A simulated probe: the pymust transducer and the field of view m2dino images with it."""

    kind: str  # linear, convex or phased
    transducer: str  # pymust getparam name
    depth: float  # imaging depth in m (from the probe surface)
    width: float  # linear: lateral field of view in m; sector probes: total opening angle in rad
    elements: int  # active elements used to form one beam
    tx_focus: float  # transmit focal depth in m
    bands: int  # depths at which the lateral profile is computed (1 = depth-independent)


PROBES: dict[str, Probe] = {
    "linear": Probe("linear", "L11-5v", depth=0.04, width=0.04, elements=64, tx_focus=0.018, bands=1),
    # pymust 0.1.9's pfield returns a flat (unfocused) profile for the C5-2v beyond ~10 cm from the chord, so the
    # convex field of view stops at 9 cm (a mid-pregnancy / pelvic depth) where every band is well resolved.
    "convex": Probe("convex", "C5-2v", depth=0.09, width=np.deg2rad(60.0), elements=64, tx_focus=0.06, bands=4),
    "phased": Probe("phased", "P4-2v", depth=0.14, width=np.deg2rad(75.0), elements=64, tx_focus=0.07, bands=4),
}


@dataclass(frozen=True)
class PSFSet:
    """One probe's PSF in physical units."""

    fc: float  # centre frequency in Hz
    axial_z: np.ndarray  # [Na] depth offsets in m
    axial: np.ndarray  # [Na] complex baseband two-way pulse
    lateral_x: np.ndarray  # [Nl] lateral offsets in m
    lateral: np.ndarray  # [bands, Nl] two-way lateral amplitude profile, peak 1
    band_depths: np.ndarray  # [bands] depths in m of the lateral profiles


def _key(probe: Probe) -> str:
    blob = json.dumps({**asdict(probe), "version": 1}, sort_keys=True, default=float)
    return f"{probe.kind}-{hashlib.sha256(blob.encode()).hexdigest()[:10]}"


def compute_psf(probe: Probe) -> PSFSet:
    """Compute a PSF set with pymust (well under a second per probe)."""
    import pymust  # imported lazily: only needed when the cache is cold

    param = pymust.getparam(probe.transducer)
    param.Nelements = probe.elements
    pulse, _ = pymust.getpulse(param, 2)  # two-way pulse, sampled at 1 ns
    t = np.arange(pulse.size) * 1e-9
    base = hilbert(pulse) * np.exp(-2j * np.pi * param.fc * t)  # demodulate to complex baseband
    keep = np.abs(base) > 0.01 * np.abs(base).max()
    lo, hi = np.argmax(keep), keep.size - np.argmax(keep[::-1])
    base = base[lo:hi] / np.abs(base).max()
    z = (t[lo:hi] - t[lo:hi][np.argmax(np.abs(base))]) * SOUND_SPEED / 2

    lam = SOUND_SPEED / param.fc
    x = np.linspace(-12 * lam, 12 * lam, 97)
    if probe.bands == 1:
        depths = np.array([probe.tx_focus])
    else:
        depths = np.linspace(0.15, 0.9, probe.bands) * probe.depth
    tx_delays = pymust.txdelay(0.0, probe.tx_focus, param)
    profiles = []
    for d in depths:
        zz = np.full_like(x, d)
        tx = np.asarray(pymust.pfield(x, None, zz, tx_delays, param)[0])
        rx = np.asarray(pymust.pfield(x, None, zz, pymust.txdelay(0.0, float(d), param), param)[0])  # dynamic receive
        prof = np.abs(tx * rx).ravel()
        profiles.append(prof / prof.max())
    return PSFSet(float(param.fc), z, base.astype(np.complex64), x, np.stack(profiles), depths)


@lru_cache(maxsize=8)
def load_psf(kind: str, cache_dir: Path | None = None) -> PSFSet:
    """The PSF set of a probe kind (linear, convex, phased), from the cache or computed and cached."""
    probe = PROBES[kind]
    path = Path(cache_dir or PSF_DIR) / f"{_key(probe)}.npz"
    if path.exists():
        with np.load(path) as f:
            return PSFSet(float(f["fc"]), f["axial_z"], f["axial"], f["lateral_x"], f["lateral"], f["band_depths"])
    psf = compute_psf(probe)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **asdict(psf))
    tmp.replace(path)  # atomic: parallel workers may race to write the same set
    return psf


def _sample(offsets: np.ndarray, values: np.ndarray, step: float, sigma_px: float) -> np.ndarray:
    """Resample a 1-D kernel at a pixel spacing, seen through a Gaussian of sigma_px pixels (the display filter)."""
    sig = sigma_px * step
    half = int(np.ceil((np.abs(offsets).max() + 3 * sig) / step))
    taps = np.arange(-half, half + 1) * step
    # continuous convolution of the kernel with the Gaussian, evaluated at the taps
    w = np.exp(-0.5 * ((taps[:, None] - offsets[None, :]) / sig) ** 2)
    k = (w * values[None, :]).sum(1)
    k = k / np.sqrt((np.abs(k) ** 2).sum())
    keep = np.abs(k) > 0.05 * np.abs(k).max()  # trim the far side lobes: they cost time and add little
    n = max(min(int(np.argmax(keep)), int(np.argmax(keep[::-1]))), half - MAX_HALF_TAPS, 0)
    return k[n:k.size - n] if n else k


# Pixels are usually coarser than the physical PSF at the small sizes m2dino trains on. A real image resized down
# is low-pass filtered first; we model that as a Gaussian display filter of this many pixels (sigma), so speckle
# stays fully developed and has a grain of about a pixel instead of aliasing into white noise.
DISPLAY_SIGMA_PX = 0.7
MAX_HALF_TAPS = 7  # kernels keep at most 15 taps


@lru_cache(maxsize=32)
def pixel_kernels(kind: str, n_depth: int, n_lateral: int, cache_dir: str | None = None
                  ) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """Kernels for a simulation grid of n_depth x n_lateral samples of a probe's field of view.

    Returns the complex axial kernel (along depth), one real lateral kernel per band (along the lateral axis, in
    samples of that axis at the band's depth) and the band depths in samples.
    """
    probe, psf = PROBES[kind], load_psf(kind, Path(cache_dir) if cache_dir else None)
    dz = probe.depth / n_depth
    axial = _sample(psf.axial_z, psf.axial, dz, DISPLAY_SIGMA_PX).astype(np.complex64)
    laterals = []
    for d, prof in zip(psf.band_depths, psf.lateral):
        if kind == "linear":
            dx = probe.width / n_lateral
        else:  # angular step at that depth, from the apex (convex: the radius adds to the depth)
            r = d + (0.04957 if kind == "convex" else 0.0)
            dx = r * probe.width / n_lateral
        laterals.append(_sample(psf.lateral_x, prof, dx, DISPLAY_SIGMA_PX).real.astype(np.float32))
    return axial, laterals, (psf.band_depths / dz).astype(np.float32)
