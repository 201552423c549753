"""Abdominal, pelvic and cardiac anatomy: liver, abdominal organs and ovary/uterus (convex C5-2v), the heart
(phased P4-2v)."""
from __future__ import annotations

import numpy as np

from m2dino.synth.anatomy.common import ECHO_JITTER_DB, acquisition, contrast, wall
from m2dino.synth.scene import (BLOOD, BONE, FLUID, Blob, DepthBand, Polyline, Scene, Tissue,
                                jitter, ring)
from m2dino.synth.geometry import from_depth_lateral

K = "convex"


def _at(rng: np.random.Generator, d: tuple, lat: tuple = (0.35, 0.65), kind: str = K) -> tuple[float, float]:
    return from_depth_lateral(kind, rng.uniform(*d), rng.uniform(*lat))


def _parenchyma(rng: np.random.Generator, echo: float = 1.0) -> tuple[Scene, float]:
    s = Scene(K, background=jitter(Tissue(echo, 0.55, 0.15), rng, ECHO_JITTER_DB), acq=acquisition(rng))
    top = wall(s, rng, skin=0.02, fat=(0.03, 0.08), muscle=(0.02, 0.06))
    return s, top


def _vessels(s: Scene, rng: np.random.Generator, n: int) -> None:
    for _ in range(n):
        x, y = _at(rng, (0.3, 0.85), (0.15, 0.85))
        ang, ln = rng.uniform(0, 3.1), rng.uniform(0.05, 0.2)
        p1 = (x + ln * np.cos(ang), y + ln * np.sin(ang))
        s.add(Polyline(((x, y), p1), rng.uniform(0.006, 0.018)), jitter(BLOOD, rng))


def liver(rng: np.random.Generator, malignant: bool = False) -> Scene:
    """Liver with a focal lesion: benign = simple cyst (anechoic, smooth, enhancing) or haemangioma
    (hyperechoic, well defined); malignant = hypoechoic, irregular, with a hypoechoic halo (target sign)."""
    u = rng.uniform
    s, top = _parenchyma(rng)
    s.add(DepthBand(K, u(0.8, 0.9), 1.1, (u(0, 0.05), u(0.3, 1), u(0, 6.3))), Tissue(3.0, 1.0, 0.1))
    _vessels(s, rng, int(rng.integers(2, 5)))
    cx, cy = _at(rng, (0.35, 0.6))
    a = u(0.06, 0.13)
    if not malignant:
        if rng.random() < 0.5:
            s.add(Blob(cx, cy, a, a * u(0.75, 1.0), u(0, 3.1)), contrast(rng, -40, -25, 0.05, 0.0))
        else:
            s.add(Blob(cx, cy, a, a * u(0.75, 1.0), u(0, 3.1), ((3, u(0, 0.05), u(0, 6.3)),)),
                  contrast(rng, 5, 10, 0.6, 0.2))
    else:
        harm = ((int(rng.integers(3, 7)), u(0.06, 0.18), u(0, 6.3)), (2, u(0, 0.1), u(0, 6.3)))
        les = Blob(cx, cy, a, a * u(0.7, 1.0), u(0, 3.1), harm)
        s.add(Blob(cx, cy, les.a * 1.25, les.b * 1.25, les.ang, harm), contrast(rng, -14, -8, 0.7, 0.1))
        s.add(les, contrast(rng, -8, 2, 0.8, 0.5))
    return s


ORGAN_CLASSES = ("liver", "kidney", "spleen", "gallbladder", "bladder", "bowel")  # organ_cls, in order


def abdomen(rng: np.random.Generator, organ: int = 0) -> Scene:
    """One abdominal organ in view; the organ is the class (organ_cls)."""
    u = rng.uniform
    name = ORGAN_CLASSES[organ]
    if name == "liver":
        s, _ = _parenchyma(rng, 1.0)
        s.add(DepthBand(K, u(0.75, 0.9), 1.1, (u(0, 0.05), u(0.3, 1), u(0, 6.3))), Tissue(3.0, 1.0, 0.1))
        _vessels(s, rng, int(rng.integers(3, 7)))
        return s
    s, top = _parenchyma(rng, u(0.5, 0.8))
    cx, cy = _at(rng, (0.4, 0.55))
    if name == "kidney":
        k = Blob(cx, cy, u(0.22, 0.28), u(0.1, 0.14), u(-0.4, 0.4), ((2, u(0.02, 0.06), 0.0),))
        s.add(Blob(cx, cy, k.a + 0.04, k.b + 0.04, k.ang), Tissue(2.2, 0.6, 0.2))  # perirenal fat
        s.add(k, jitter(Tissue(0.6, 0.5, 0.15), rng, ECHO_JITTER_DB))
        for phi in np.linspace(0.4, 5.9, 6):  # medullary pyramids
            x, y = k.point(phi, 0.6)
            s.add(Blob(x, y, k.b * 0.22, k.b * 0.16, phi), Tissue(0.2, 0.4, 0.1))
        s.add(Blob(cx, cy, k.a * 0.6, k.b * 0.35, k.ang), jitter(Tissue(2.2, 0.6, 0.3), rng))
    elif name == "spleen":
        sp = Blob(cx, cy, u(0.25, 0.32), u(0.12, 0.16), u(-0.5, 0.5))
        s.add(sp - Blob(cx + u(0.05, 0.1), cy + u(0.06, 0.1), sp.a * 0.8, sp.b * 0.7, sp.ang),
              jitter(Tissue(1.2, 0.5, 0.08), rng, ECHO_JITTER_DB))
        s.add(DepthBand(K, u(0.8, 0.92), 1.1), Tissue(3.0, 1.0, 0.1))
    elif name == "gallbladder":
        s.background = jitter(Tissue(1.0, 0.55, 0.15), rng, ECHO_JITTER_DB)
        gb = Blob(cx, cy, u(0.12, 0.18), u(0.05, 0.08), u(-0.6, 0.6), ((1, u(0.05, 0.15), 0.0),))
        s.add(Blob(cx, cy, gb.a + 0.012, gb.b + 0.012, gb.ang, gb.harmonics), Tissue(2.0, 0.6, 0.1))
        s.add(gb, jitter(FLUID, rng))
        if rng.random() < 0.4:  # a gallstone: bright, shadowing
            x, y = gb.point(np.pi / 2, 0.6)
            s.add(Blob(x, y, 0.02, 0.02), BONE)
    elif name == "bladder":
        bl = Blob(cx, cy, u(0.2, 0.28), u(0.12, 0.18), u(-0.2, 0.2), ((4, u(0.03, 0.08), 0.0),))
        s.add(ring(Blob(cx, cy, bl.a + 0.015, bl.b + 0.015, bl.ang, bl.harmonics), 0.02), Tissue(1.8, 0.6, 0.1))
        s.add(bl, jitter(FLUID, rng))
    else:  # bowel: loops with echogenic walls and gas that casts dirty shadows
        for _ in range(rng.integers(3, 6)):
            x, y = _at(rng, (0.25, 0.7), (0.2, 0.8))
            r = u(0.05, 0.09)
            lp = Blob(x, y, r, r * u(0.6, 1.0), u(0, 3.1))
            s.add(ring(lp, 0.02), Tissue(1.6, 0.7, 0.3))
            s.add(Blob(x, y, lp.a - 0.02, lp.b - 0.02, lp.ang), Tissue(u(2, 4), u(3, 8), 0.4))
    return s


def ovary(rng: np.random.Generator) -> Scene:
    """Ovary with follicles and a tumour ("tumor"): cystic (anechoic with septa) or solid (hypoechoic,
    irregular, attenuating)."""
    u = rng.uniform
    s, _ = _parenchyma(rng, u(0.6, 0.9))
    cx, cy = _at(rng, (0.4, 0.55))
    ov = Blob(cx, cy, u(0.25, 0.32), u(0.18, 0.24), u(-0.4, 0.4))
    s.add(ov, jitter(Tissue(1.0, 0.6, 0.3), rng, ECHO_JITTER_DB))
    for _ in range(rng.integers(2, 6)):
        x, y = ov.point(u(0, 6.3), u(0.3, 0.8))
        r = u(0.015, 0.03)
        s.add(Blob(x, y, r, r), jitter(FLUID, rng))
    tx, ty = ov.point(u(0, 6.3), u(0, 0.3))
    a = u(0.1, 0.18)
    if rng.random() < 0.5:
        tum = Blob(tx, ty, a, a * u(0.7, 1.0), u(0, 3.1), ((2, u(0, 0.08), u(0, 6.3)),))
        s.add(tum, contrast(rng, -40, -25, 0.05, 0.0), "tumor")
        for _ in range(rng.integers(0, 3)):  # septa
            p0, p1 = tum.point(u(0, 6.3), 0.95), tum.point(u(0, 6.3), 0.95)
            s.add(Polyline((p0, p1), 0.006) & tum, Tissue(1.5, 0.6, 0.1), "tumor")
    else:
        tum = Blob(tx, ty, a, a * u(0.7, 1.0), u(0, 3.1), ((int(rng.integers(3, 7)), u(0.05, 0.15), u(0, 6.3)),))
        s.add(tum, contrast(rng, -14, -6, u(1.0, 2.0), 0.5), "tumor")
    return s


def uterus(rng: np.random.Generator) -> Scene:
    """Uterus (sagittal): myometrium, the echogenic endometrium, and a fibroid ("fibroid"): a round hypoechoic
    whorled mass with edge shadowing."""
    u = rng.uniform
    s, _ = _parenchyma(rng, u(0.5, 0.8))
    cx, cy = _at(rng, (0.4, 0.55))
    ut = Blob(cx, cy, u(0.3, 0.38), u(0.14, 0.2), u(-0.4, 0.4), ((2, u(0, 0.06), u(0, 6.3)),))
    s.add(ut, jitter(Tissue(1.0, 0.7, 0.3), rng, ECHO_JITTER_DB))
    s.add(Blob(cx, cy, ut.a * 0.7, ut.b * u(0.1, 0.2), ut.ang), jitter(Tissue(2.2, 0.6, 0.2), rng))
    fx, fy = ut.point(u(0, 6.3), u(0.2, 0.85))
    a = u(0.06, 0.13)
    s.add(Blob(fx, fy, a, a * u(0.8, 1.0), u(0, 3.1), ((3, u(0, 0.06), u(0, 6.3)),)),
          contrast(rng, -12, -4, u(1.2, 2.5), 0.7), "fibroid")
    return s


def heart(rng: np.random.Generator) -> Scene:
    """Heart, apical four-chamber view (phased array, apex at the top): left ventricle cavity ("lv"), its
    myocardium ("myo"), left atrium ("la"), and the right heart and pericardium (unlabelled)."""
    u = rng.uniform
    kind = "phased"
    s = Scene(kind, background=jitter(Tissue(0.5, 0.5, 0.3), rng, ECHO_JITTER_DB), acq=acquisition(rng))
    top = wall(s, rng, skin=0.02, fat=(0.02, 0.04), muscle=(0.0, 0.03))
    axis = np.pi / 2 + u(-0.25, 0.25)  # long axis, pointing down from the apex
    d = np.array([np.cos(axis), np.sin(axis)])
    apex = np.array(from_depth_lateral(kind, top + u(0.08, 0.14), u(0.5, 0.6)))
    a, b, t = u(0.2, 0.26), u(0.08, 0.11), u(0.03, 0.045)
    lv_c = apex + d * (a + t)
    side = np.array([d[1], -d[0]])  # towards image left: the right heart in an apical view
    rv_c = lv_c + side * (b + t + u(0.06, 0.1)) - d * 0.03
    peri = Blob(*(lv_c + side * 0.1 + d * 0.12), a + 0.22, b + 0.3, axis)
    s.add(ring(peri, 0.02), Tissue(2.5, 0.8, 0.1))
    s.add(Blob(*rv_c, a * 0.85, b * 0.9, axis), jitter(BLOOD, rng, 6))
    s.add(Blob(*(rv_c + d * (a + 0.08)), 0.09, 0.08, axis), jitter(BLOOD, rng, 6))
    s.add(Blob(*lv_c, a + t, b + t, axis), jitter(Tissue(1.0, 0.8, 0.3), rng, ECHO_JITTER_DB), "myo")
    s.add(Blob(*lv_c, a, b, axis, ((2, u(0, 0.05), u(0, 6.3)),)), jitter(BLOOD, rng, 6), "lv")
    la_a = u(0.08, 0.12)
    s.add(Blob(*(lv_c + d * (a + t + la_a * 0.95)), la_a, u(0.08, 0.11), axis), jitter(BLOOD, rng, 6), "la")
    return s
