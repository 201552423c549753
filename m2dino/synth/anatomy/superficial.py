"""Superficial organs imaged with the linear L11-5v: breast, thyroid, carotid, lung, spinal cord."""
from __future__ import annotations

import numpy as np

from m2dino.synth.anatomy.common import ECHO_JITTER_DB, acquisition, contrast, wall
from m2dino.synth.scene import (BLOOD, BONE, FLUID, GLAND, MUSCLE, SOFT, Beam, Blob, DepthBand, Polyline, Scene,
                                Tissue, jitter, ring)

K = "linear"


def breast(rng: np.random.Generator, kind: str = "benign") -> Scene:
    """Breast: skin, fat, glandular tissue, pectoralis; a lesion unless kind == "normal".

    Benign lesions are oval, wider than tall, smooth or gently lobulated, and attenuate less than the gland
    (posterior enhancement); malignant ones are irregular or spiculated, taller than wide, and attenuate strongly
    (posterior shadowing).
    """
    u = rng.uniform
    s = Scene(K, background=jitter(GLAND, rng, ECHO_JITTER_DB), acq=acquisition(rng))
    top = wall(s, rng, fat=(0.06, 0.2))
    deep = u(0.72, 0.88)
    s.add(DepthBand(K, deep, 1.2, (u(0, 0.03), u(0.3, 1.2), u(0, 6.3))), jitter(MUSCLE, rng, ECHO_JITTER_DB))
    for _ in range(rng.integers(2, 7)):  # fat lobules: hypoechoic ovals that a lesion must be told apart from
        a = u(0.03, 0.08)
        s.add(Blob(u(0, 1), u(top, deep), a, a * u(0.3, 0.6), u(-0.3, 0.3)), jitter(Tissue(0.4, 0.6, 0.2), rng))
    if kind == "normal":
        return s
    if kind == "benign":
        a = u(0.08, 0.17)
        b, ang = a * u(0.45, 0.8), u(-0.3, 0.3)
        harm = ((2, u(0, 0.06), u(0, 6.3)), (3, u(0, 0.05), u(0, 6.3)))
        t = contrast(rng, -30, -12, att=u(0.05, 0.3), tex=0.1)
    else:
        a = u(0.06, 0.12)
        b, ang = a * u(1.05, 1.6), u(-0.25, 0.25)
        harm = ((3, u(0.05, 0.15), u(0, 6.3)), (int(rng.integers(7, 14)), u(0.08, 0.22), u(0, 6.3)))
        t = contrast(rng, -22, -10, att=u(1.5, 3.0), tex=0.3)
    cy = u(top + b + 0.03, max(deep - 0.6 * b, top + b + 0.04))
    s.add(Blob(u(0.25, 0.75), cy, a, b, ang, harm), t, "lesion")
    return s


def thyroid(rng: np.random.Generator, nodule: bool = True) -> Scene:
    """Thyroid lobe (transverse): strap muscles, the lobe, the trachea and carotid beside it, and a nodule."""
    u = rng.uniform
    s = Scene(K, background=jitter(MUSCLE, rng, ECHO_JITTER_DB), acq=acquisition(rng))
    top = wall(s, rng, fat=(0.02, 0.06), muscle=(0.05, 0.12))
    side = rng.choice([-1, 1])
    lobe = Blob(u(0.42, 0.58), u(top + 0.22, top + 0.3), u(0.3, 0.4), u(0.17, 0.23), u(-0.15, 0.15),
                ((2, u(0, 0.08), u(0, 6.3)),))
    s.add(lobe, jitter(Tissue(1.5, 0.6, 0.15), rng, ECHO_JITTER_DB))
    tr = Blob(0.5 + side * 0.5, lobe.cy + 0.05, 0.16, 0.16)  # trachea: air behind a bright ring, shadowing
    s.add(ring(tr, 0.03), Tissue(4.0, 15.0, 0.1))
    s.add(tr - ring(tr, 0.03), Tissue(0.05, 15.0, 0.0))
    ca = Blob(0.5 - side * u(0.38, 0.45), lobe.cy + u(0.05, 0.15), u(0.08, 0.11), u(0.08, 0.11))
    s.add(ring(ca, 0.015), Tissue(2.0, 0.8, 0.1))
    s.add(Blob(ca.cx, ca.cy, ca.a - 0.015, ca.b - 0.015), jitter(BLOOD, rng))
    if nodule:
        a = u(0.05, 0.14)
        cx = lobe.cx + u(-0.5, 0.5) * lobe.a * 0.6
        cy = lobe.cy + u(-0.4, 0.4) * lobe.b * 0.6
        nb = Blob(cx, cy, a, a * u(0.6, 1.2), u(0, 3.1), ((int(rng.integers(2, 6)), u(0, 0.12), u(0, 6.3)),))
        kind = rng.integers(3)
        if kind == 0:  # hypoechoic solid
            t = contrast(rng, -14, -6, 0.9, 0.3, base=1.5)
        elif kind == 1:  # isoechoic with a hypoechoic halo
            t = contrast(rng, -3, 4, 0.6, 0.45, base=1.5)
        else:  # cystic
            t = contrast(rng, -35, -20, 0.1, 0.0, base=1.5)
        if kind == 1:
            s.add(nb, Tissue(0.25, 0.6, 0.1), "nodule")
            nb = Blob(nb.cx, nb.cy, nb.a * 0.85, nb.b * 0.85, nb.ang, nb.harmonics)
        s.add(nb, t, "nodule")
    return s


def carotid(rng: np.random.Generator) -> Scene:
    """Carotid artery (transverse): a round lumen with a bright intima-media wall; the flatter jugular vein beside."""
    u = rng.uniform
    s = Scene(K, background=jitter(SOFT, rng, ECHO_JITTER_DB), acq=acquisition(rng))
    top = wall(s, rng, muscle=(0.1, 0.2))
    r = u(0.1, 0.16)
    art = Blob(u(0.3, 0.7), u(top + r + 0.12, min(top + r + 0.3, 0.8)), r, r * u(0.9, 1.05))
    s.add(ring(Blob(art.cx, art.cy, r + u(0.015, 0.03), art.b + 0.02), 0.035), Tissue(2.5, 0.9, 0.2))
    lumen = s.add(art, jitter(BLOOD, rng, 6), "lumen")
    if rng.random() < 0.4:  # plaque: an echogenic bump of the wall into the lumen, not lumen
        ph = u(0, 6.3)
        px, py = art.point(ph, 1.0)
        s.add(Blob(px, py, u(0.03, 0.06), u(0.02, 0.04), ph + np.pi / 2) & art, Tissue(1.2, 1.0, 0.4))
    del lumen
    side = 1 if art.cx < 0.5 else -1
    vr = u(0.08, 0.14)
    vein = Blob(art.cx + side * (r + vr + u(0.03, 0.1)), art.cy - u(0.05, 0.12), vr, vr * u(0.4, 0.8), u(-0.3, 0.3))
    s.add(ring(Blob(vein.cx, vein.cy, vein.a + 0.008, vein.b + 0.008, vein.ang), 0.012), Tissue(1.6, 0.8, 0.1))
    s.add(vein, jitter(BLOOD, rng, 6))
    return s


def lung(rng: np.random.Generator, pattern: str = "A") -> Scene:
    """Intercostal lung view: chest wall, two ribs with shadows, the pleural line, and below it a pattern:
    "A" (normal: horizontal A-line reverberations), "B" (vertical B-lines from the pleura) or "C"
    (subpleural consolidation: tissue-like lung with air bronchograms). Tag "lung": pleura and lung between
    the rib shadows."""
    u = rng.uniform
    s = Scene(K, background=jitter(MUSCLE, rng, ECHO_JITTER_DB), acq=acquisition(rng))
    wall(s, rng, fat=(0.03, 0.1), muscle=(0.05, 0.12))
    pl = u(0.25, 0.4)
    w = u(0.1, 0.18)
    ribs = [(u(0.0, 0.2), w), (u(0.8, 1.0), w)]
    shadows = None
    for c, rw in ribs:
        s.add(Blob(c, pl - u(0.0, 0.03), rw / 2 + 0.03, u(0.04, 0.06)), jitter(BONE, rng))
        sh = Beam(K, c - rw / 2 - 0.03, c + rw / 2 + 0.03, pl - 0.04, 2.0)
        shadows = sh if shadows is None else shadows | sh
    wave = (u(0, 0.015), u(0.3, 1.0), u(0, 6.3))
    thick = u(0.015, 0.03)
    air = Tissue(u(0.08, 0.2), 0.3, 0.2)
    region = DepthBand(K, pl, 2.0, wave) - shadows
    s.add(DepthBand(K, pl + thick, 2.0, wave) - shadows, air, "lung")
    s.add(DepthBand(K, pl, pl + thick, wave) - shadows, Tissue(u(4, 8), 0.6, 0.1), "lung")
    a_echo = {"A": u(1.5, 4.0), "B": u(0.2, 0.6), "C": u(0.3, 0.8)}[pattern]
    for m in (2, 3, 4):  # A-lines: reverberations at multiples of the pleural depth, fading
        d = m * pl
        if d < 1:
            s.add(DepthBand(K, d, d + thick, wave) & region, Tissue(a_echo / m, 0.3, 0.1), "lung")
    if pattern == "B":
        for _ in range(rng.integers(2, 6)):
            c, bw = u(0.2, 0.8), u(0.02, 0.05)
            s.add(Beam(K, c - bw / 2, c + bw / 2, pl, 2.0) & region, Tissue(u(2.0, 5.0), 0.05, 0.2), "lung")
    elif pattern == "C":
        a = u(0.15, 0.3)
        cons = Blob(u(0.35, 0.65), pl + thick + a * 0.5, a, a * u(0.5, 0.9), u(-0.2, 0.2),
                    ((int(rng.integers(4, 9)), u(0.1, 0.2), u(0, 6.3)),))
        s.add(cons & region, jitter(Tissue(0.9, 0.8, 0.4), rng, ECHO_JITTER_DB), "lung")
        for _ in range(rng.integers(3, 8)):  # air bronchograms: short bright lines inside
            x0, y0 = cons.point(u(0, 6.3), u(0, 0.7))
            ang = u(-0.6, 0.6)
            seg = Polyline(((x0, y0), (x0 + 0.06 * np.cos(ang), y0 + 0.06 * np.sin(ang))), 0.008)
            s.add(seg & cons & region, Tissue(4.0, 1.0, 0.1), "lung")
    return s


def spine(rng: np.random.Generator) -> Scene:
    """Spinal cord (sagittal, through a laminectomy window): dura, CSF, the hypoechoic cord with its central
    echo, vertebral bodies below, and a focal injury (altered echo) inside the cord, tagged "injury"."""
    u = rng.uniform
    s = Scene(K, background=jitter(MUSCLE, rng, ECHO_JITTER_DB), acq=acquisition(rng))
    wall(s, rng, fat=(0.03, 0.08), muscle=(0.08, 0.18))
    cy, ang, half = u(0.45, 0.6), u(-0.12, 0.12), u(0.07, 0.1)
    dura = Blob(0.5, cy, 1.2, half + u(0.05, 0.08), ang)
    s.add(dura, Tissue(3.0, 0.7, 0.1))
    s.add(Blob(0.5, cy, 1.2, dura.b - 0.015, ang), jitter(FLUID, rng))
    cord = Blob(0.5, cy, 1.2, half, ang)
    s.add(cord, jitter(Tissue(0.35, 0.4, 0.2), rng, ECHO_JITTER_DB))
    s.add(Blob(0.5, cy, 1.2, 0.007, ang), Tissue(2.0, 0.5, 0.1))
    vb = dura.cy + dura.b + u(0.06, 0.12)
    for x in np.arange(u(-0.1, 0.1), 1.1, u(0.25, 0.35)):  # vertebral bodies: bright surfaces, shadowing
        s.add(Blob(x, vb + (x - 0.5) * np.tan(ang) + 0.06, u(0.1, 0.13), 0.06), Tissue(5.0, 10.0, 0.1))
    cx = u(0.25, 0.75)
    a = u(0.06, 0.16)
    inj = Blob(cx, cy + (cx - 0.5) * np.tan(ang), a, half * u(0.6, 1.1), ang, ((3, u(0, 0.15), u(0, 6.3)),))
    t = contrast(rng, 6, 16, 0.6, 0.5, base=0.35) if rng.random() < 0.6 else contrast(rng, -10, -5, 0.3, 0.3, 0.35)
    s.add(inj & Blob(0.5, cy, 1.2, dura.b, ang), t, "injury")
    return s
