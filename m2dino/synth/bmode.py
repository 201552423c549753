"""The convolution model of B-mode ultrasound, on a probe's simulation grid (rows = depth along the beam).

1. complex random scatterers whose amplitude is the tissue's echogenicity (texture included);
2. convolved with the probe's point-spread function (pymust, :mod:`m2dino.synth.psf`): a lateral pass with a
   kernel per depth band (blended between bands, so the beam narrows at the focus and widens beyond) and an axial
   pass with the complex baseband pulse;
3. round-trip attenuation accumulated along the beam from the tissue map (so bone and strong attenuators shadow
   what lies behind them, and fluid, which attenuates less than the tissue the gain expects, enhances it), plus
   electronic noise, then a time-gain compensation that makes up only part of the nominal tissue loss;
4. envelope detection;
5. log compression to 8 bits, then scan conversion to the Cartesian image for sector probes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import convolve1d

from m2dino.synth.geometry import Geometry
from m2dino.synth.psf import load_psf, pixel_kernels

RAYLEIGH_MEAN = float(np.sqrt(np.pi / 2))  # mean envelope of unit-echo tissue (E|s|^2 = 2, unit-energy PSF)


@dataclass(frozen=True)
class Acquisition:
    """System settings of one simulated acquisition (randomised per image by the task generators)."""

    noise_db: float = -40.0  # electronic noise, dB relative to unit-echogenicity tissue at the deepest row
    tissue_att: float = 0.5  # dB/cm/MHz the time-gain compensation expects
    gain_comp: float = 0.8  # fraction of that nominal loss the time-gain compensation makes up
    dynamic_range: float = 60.0  # dB shown between black and white
    level: float = 0.6  # where unit-echogenicity tissue sits on the grey scale (0 black, 1 white)


def envelope(amp: np.ndarray, att: np.ndarray | None, geom: Geometry, rng: np.random.Generator,
             acq: Acquisition = Acquisition()) -> np.ndarray:
    """Envelope on the simulation grid, scaled so unit-echo tissue without attenuation has mean 1.

    Args:
        amp: [n, n] scatterer amplitude (echogenicity x texture) on the simulation grid.
        att: [n, n] attenuation in dB/cm/MHz on the same grid, or None for none (and no gain compensation).
    """
    n = geom.n
    axial, laterals, band_rows = pixel_kernels(geom.kind, n, n)
    # real and imaginary parts stacked [2, n, n]: one filter call serves both (each line is filtered exactly as alone)
    s = rng.standard_normal((2, n, n), dtype=np.float32) * amp.astype(np.float32)
    if len(laterals) == 1:
        s = convolve1d(s, laterals[0], axis=2)
    else:  # depth-banded lateral PSF, blended linearly between the band depths
        rows = np.arange(n, dtype=np.float32)
        pos = np.interp(rows, band_rows, np.arange(len(band_rows)))
        out = np.zeros_like(s)
        for b, k in enumerate(laterals):
            w = np.clip(1 - np.abs(pos - b), 0, 1)[:, None].astype(np.float32)
            sel = np.flatnonzero(w[:, 0] > 0)  # the band's rows: one contiguous run, as pos grows with depth
            if sel.size:
                r = slice(int(sel[0]), int(sel[-1]) + 1)
                out[:, r] += w[r] * convolve1d(s[:, r], k, axis=2)
        s = out
    a_r = convolve1d(s, axial.real.copy(), axis=1)  # [re * kr, im * kr]
    a_i = convolve1d(s, axial.imag.copy(), axis=1)  # [re * ki, im * ki]
    re, im = a_r[0] - a_i[1], a_i[0] + a_r[1]
    if att is not None:
        fmhz = load_psf(geom.kind).fc / 1e6
        dz = float(geom.depth_cm[1] - geom.depth_cm[0])
        loss_db = 2 * fmhz * np.cumsum(att, axis=0, dtype=np.float32) * dz  # round trip, along the beam
        a = np.power(10.0, -loss_db / 20, dtype=np.float32)
        re, im = re * a, im * a
        gain = np.power(10.0, (acq.gain_comp * 2 * fmhz * acq.tissue_att * geom.depth_cm) / 20,
                        dtype=np.float32)[:, None]
        # receiver noise enters before the gain: it is noise_db below unit tissue at the deepest row, less above
        noise = 10 ** (acq.noise_db / 20) / gain[-1, 0]
        nz = rng.standard_normal((2, n, n), dtype=np.float32) * np.float32(noise)
        re, im = (re + nz[0]) * gain, (im + nz[1]) * gain
    return np.sqrt(re * re + im * im) / np.float32(RAYLEIGH_MEAN)


def log_compress(env: np.ndarray, acq: Acquisition = Acquisition()) -> np.ndarray:
    """Envelope -> grey level in [0, 1]: unit tissue at ``acq.level``, ``acq.dynamic_range`` dB from black to white."""
    db = 20 * np.log10(np.maximum(env, 1e-6))
    return np.clip(acq.level + db / acq.dynamic_range, 0, 1)


def bmode(amp: np.ndarray, att: np.ndarray, geom: Geometry, rng: np.random.Generator,
          acq: Acquisition = Acquisition()) -> np.ndarray:
    """The uint8 [n, n] B-mode image (scan-converted for sector probes, black outside the field of view)."""
    grey = geom.scan_convert(log_compress(envelope(amp, att, geom, rng, acq), acq))
    return np.rint(grey * 255 * geom.fov).astype(np.uint8)
