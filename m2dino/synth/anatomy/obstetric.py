"""Obstetric anatomy imaged with the convex C5-2v: cervix, fetal head (and the pubic symphysis), fetal abdomen,
fetal heart, femur, sacrum, and the standard planes built from them."""
from __future__ import annotations

import numpy as np

from m2dino.synth.anatomy.common import ECHO_JITTER_DB, acquisition, contrast, wall
from m2dino.synth.scene import (BONE, FLUID, SOFT, Blob, DepthBand, HalfPlane, Polyline, Scene, Tissue,
                                jitter, ring)
from m2dino.synth.geometry import from_depth_lateral

K = "convex"


def _uterus_fluid(rng: np.random.Generator) -> tuple[Scene, float]:
    """Maternal wall, then amniotic fluid (and sometimes a placenta) for the fetus to lie in."""
    u = rng.uniform
    s = Scene(K, background=jitter(SOFT, rng, ECHO_JITTER_DB), acq=acquisition(rng))
    top = wall(s, rng, skin=0.02, fat=(0.03, 0.08), muscle=(0.03, 0.06))
    s.add(DepthBand(K, top + 0.04, 1.5, (u(0, 0.03), u(0.3, 1), u(0, 6.3))), jitter(FLUID, rng))
    if rng.random() < 0.5:
        s.add(DepthBand(K, top + 0.04, top + u(0.1, 0.2), (u(0, 0.03), u(0.3, 1), u(0, 6.3))),
              jitter(Tissue(1.3, 0.6, 0.35), rng, ECHO_JITTER_DB))
    return s, top


def _at(rng: np.random.Generator, d: tuple, lat: tuple = (0.35, 0.65)) -> tuple[float, float]:
    return from_depth_lateral(K, rng.uniform(*d), rng.uniform(*lat))


def _head(s: Scene, rng: np.random.Generator, cx: float, cy: float, a: float, occiput: float) -> Blob:
    """A fetal head (axial, transthalamic): skull, brain, midline, thalami, and the cerebellum at the occiput.

    ``occiput`` is the image angle (rad, 0 = +u, pi/2 = down) from the head's centre to the occiput.
    """
    u = rng.uniform
    head = Blob(cx, cy, a, a * u(0.75, 0.88), occiput + np.pi)  # phi = pi of this frame points at the occiput
    t = u(0.018, 0.028)
    s.add(ring(head, t), jitter(Tissue(4.0, 3.0, 0.1), rng, ECHO_JITTER_DB), "head")
    inner = Blob(cx, cy, a - t, head.b - t, head.ang)
    s.add(inner, jitter(Tissue(0.3, 0.3, 0.3), rng, ECHO_JITTER_DB), "head")
    p0, p1 = head.point(0.0, 0.85), head.point(np.pi, 0.85)
    s.add(Polyline((p0, p1), 0.006), Tissue(2.0, 0.5, 0.1), "head")
    for sgn in (-1, 1):  # thalami, either side of the midline, a little towards the occiput
        x, y = head.point(np.pi, 0.15)
        off = sgn * head.b * 0.25
        s.add(Blob(x - off * np.sin(head.ang), y + off * np.cos(head.ang), a * 0.16, a * 0.12, head.ang),
              Tissue(0.12, 0.3, 0.1), "head")
    x, y = head.point(np.pi, 0.62)  # cerebellum: a bright dumbbell near the occiput
    s.add(Blob(x, y, a * 0.12, a * 0.28, head.ang), Tissue(1.8, 0.5, 0.2), "head")
    x, y = head.point(0.0, 0.45)  # cavum septi pellucidi, towards the front
    s.add(Blob(x, y, a * 0.1, a * 0.06, head.ang), Tissue(0.01, 0.1, 0.0), "head")
    return head


def fetal_head(rng: np.random.Generator, orientation: int | None = None, symphysis: bool = False) -> Scene:
    """A fetal head in amniotic fluid. ``orientation`` k in 0..7 puts the occiput at k x 45 degrees (+-15);
    ``symphysis`` gives the transperineal view: the pubic symphysis above the head (tags "symphysis", "head"),
    with landmarks sym_upper, sym_lower and head_tangent (the angle-of-progression points)."""
    u = rng.uniform
    s, top = _uterus_fluid(rng)
    occ = u(0, 2 * np.pi) if orientation is None else np.deg2rad(45 * orientation + u(-15, 15))
    if not symphysis:
        cx, cy = _at(rng, (0.5, 0.62))
        _head(s, rng, cx, cy, u(0.14, 0.19), occ)
        return s
    sx, sy = _at(rng, (0.18, 0.28), (0.25, 0.4))
    sym = Blob(sx, sy, u(0.1, 0.14), u(0.03, 0.045), u(0.5, 0.9))
    s.add(sym, jitter(Tissue(1.8, 1.5, 0.3), rng, ECHO_JITTER_DB), "symphysis")
    lower = sym.point(0.0)
    a = u(0.15, 0.2)
    hx = lower[0] + u(0.02, 0.12)
    hy = lower[1] + a * u(0.9, 1.3)
    head = _head(s, rng, hx, hy, a, occ)
    upper = sym.point(np.pi)
    axis = np.arctan2(lower[1] - upper[1], lower[0] - upper[0])
    phis = np.linspace(0, 2 * np.pi, 720, endpoint=False)
    pts = np.array([head.point(p) for p in phis])
    ang = np.unwrap(np.arctan2(pts[:, 1] - lower[1], pts[:, 0] - lower[0]) - axis)
    ang = (ang + np.pi) % (2 * np.pi) - np.pi
    tangent = pts[np.argmin(ang)]  # the head contour point seen at the widest angle from the symphysis axis
    s.points.update(sym_upper=upper, sym_lower=lower, head_tangent=tuple(tangent))
    return s


def cervix(rng: np.random.Generator, canal: tuple[float, float] = (0.006, 0.01), canal_echo: float = 2.5) -> Scene:
    """The cervix (sagittal): anterior and posterior lips either side of the echogenic canal, which runs from the
    internal os to the external os (landmarks "internal_os", "external_os"). ``canal``: range of the canal's
    half-width (fraction of the image side); ``canal_echo``: its echogenicity (FUGC's view sets both, see
    :mod:`m2dino.synth.tasks`)."""
    u = rng.uniform
    s = Scene(K, background=jitter(SOFT, rng, ECHO_JITTER_DB), acq=acquisition(rng))
    wall(s, rng, skin=0.02, fat=(0.02, 0.05), muscle=(0.0, 0.04))
    if rng.random() < 0.6:  # bladder above
        bx, by = _at(rng, (0.2, 0.28), (0.3, 0.7))
        s.add(Blob(bx, by, u(0.1, 0.2), u(0.05, 0.08), u(-0.3, 0.3)), jitter(FLUID, rng))
    cx, cy = _at(rng, (0.45, 0.6), (0.4, 0.6))
    cerv = Blob(cx, cy, u(0.17, 0.24), u(0.07, 0.1), u(-0.5, 0.5), ((2, u(0, 0.08), u(0, 6.3)),))
    tis = jitter(Tissue(1.2, 0.6, 0.4), rng, ECHO_JITTER_DB)
    lip_contrast = contrast(rng, -5, -1, 0.6, 0.4, base=tis.echo)
    s.add(cerv & HalfPlane(cx, cy, cerv.ang + np.pi), tis, "cervix", "anterior")
    s.add(cerv & HalfPlane(cx, cy, cerv.ang), lip_contrast, "cervix", "posterior")
    io, eo = cerv.point(np.pi, u(0.75, 0.9)), cerv.point(0.0, u(0.75, 0.9))
    mid = ((io[0] + eo[0]) / 2 + u(-0.01, 0.01), (io[1] + eo[1]) / 2 + u(-0.01, 0.01))
    s.add(Polyline((io, mid, eo), u(*canal)), jitter(Tissue(canal_echo, 0.6, 0.1), rng, ECHO_JITTER_DB),
          "cervix", "canal")
    s.points.update(internal_os=io, external_os=eo)
    return s


def fetal_abdomen(rng: np.random.Generator) -> Scene:
    """Fetal abdomen (axial): body ("abdomen"), stomach bubble ("stomach"), umbilical vein ("vein"), spine
    ossification centres ("spine", shadowing)."""
    u = rng.uniform
    s, _ = _uterus_fluid(rng)
    cx, cy = _at(rng, (0.45, 0.58))
    a = u(0.14, 0.2)
    body = Blob(cx, cy, a, a * u(0.85, 1.0), u(0, 6.3), ((3, u(0, 0.04), u(0, 6.3)),))
    s.add(body, jitter(Tissue(0.9, 0.6, 0.3), rng, ECHO_JITTER_DB), "abdomen")
    s.add(ring(body, 0.012), Tissue(2.0, 0.6, 0.1), "abdomen")
    spine = body.point(np.pi, 0.78)
    for k, off in enumerate((-1, 0, 1)):  # three ossification centres in a triangle at the back
        x, y = body.point(np.pi + off * 0.22, 0.72 if off else 0.85)
        s.add(Blob(x, y, a * 0.09, a * 0.09), jitter(BONE, rng), "spine")
    del spine
    sx, sy = body.point(u(0.6, 1.2) * rng.choice([-1, 1]), u(0.3, 0.5))
    s.add(Blob(sx, sy, a * u(0.2, 0.32), a * u(0.14, 0.22), u(0, 3.1)), jitter(FLUID, rng), "stomach")
    p0, p1 = body.point(u(-0.3, 0.3), 0.85), body.point(u(-0.3, 0.3) + rng.choice([-1, 1]) * 0.5, 0.2)
    s.add(Polyline((p0, p1), a * u(0.05, 0.08)), jitter(Tissue(0.01, 0.15, 0.0), rng), "vein")
    return s


def fetal_heart(rng: np.random.Generator) -> Scene:
    """Fetal thorax (four-chamber view): ribs, lungs, and the heart ("heart": walls, septa, four chambers)."""
    u = rng.uniform
    s, _ = _uterus_fluid(rng)
    cx, cy = _at(rng, (0.45, 0.58))
    a = u(0.15, 0.2)
    th = Blob(cx, cy, a, a * u(0.9, 1.0))
    s.add(th, jitter(Tissue(1.3, 0.7, 0.15), rng, ECHO_JITTER_DB))
    for phi in np.linspace(0, 2 * np.pi, int(rng.integers(5, 9)), endpoint=False) + u(0, 1):
        x, y = th.point(phi, 0.95)
        s.add(Blob(x, y, a * 0.12, a * 0.05, phi + np.pi / 2), jitter(BONE, rng))
    ang = u(0, 6.3)
    hx, hy = th.point(ang, u(0.15, 0.3))
    heart = Blob(hx, hy, a * u(0.45, 0.58), a * u(0.38, 0.48), u(0, 6.3))
    s.add(heart, jitter(Tissue(1.5, 0.6, 0.2), rng, ECHO_JITTER_DB), "heart")
    t = heart.a * 0.09
    for qa in (0, 1):
        for qb in (0, 1):  # four chambers: quadrants of the heart's frame, away from the cross of septa
            px, py = heart.point(np.pi / 4 + qa * np.pi + qb * np.pi / 2 * (1 - 2 * qa), 0.45)
            s.add(Blob(px, py, heart.a * 0.36, heart.b * 0.34, heart.ang) & _inner(heart, t),
                  Tissue(0.012, 0.15, 0.0), "heart")
    return s


def _inner(b: Blob, t: float) -> Blob:
    return Blob(b.cx, b.cy, b.a - t, b.b - t, b.ang, b.harmonics)


def femur(rng: np.random.Generator) -> Scene:
    """Fetal femur: the ossified diaphysis, a bright slightly bowed bar that shadows, in the soft tissue of the
    thigh; landmarks "femur_end_1", "femur_end_2" at the ends of the diaphysis."""
    u = rng.uniform
    s, _ = _uterus_fluid(rng)
    cx, cy = _at(rng, (0.45, 0.6))
    length, ang = u(0.22, 0.36), u(-0.4, 0.4)
    d = np.array([np.cos(ang), np.sin(ang)]) * length / 2
    p0, p1 = (cx - d[0], cy - d[1]), (cx + d[0], cy + d[1])
    bow = u(-0.02, 0.02)
    mid = (cx - np.sin(ang) * bow, cy + np.cos(ang) * bow)
    s.add(Blob(cx, cy, length / 2 + u(0.05, 0.1), u(0.06, 0.09), ang), jitter(Tissue(0.8, 0.6, 0.3), rng))
    s.add(Polyline((p0, mid, p1), u(0.01, 0.016)), jitter(BONE, rng, ECHO_JITTER_DB), "femur")
    s.points.update(femur_end_1=p0, femur_end_2=p1)
    return s


def fetal_sacrum(rng: np.random.Generator, orientation: int = 0) -> Scene:
    """Fetal lower spine (sagittal): two rows of ossification centres converging towards the sacral tip. The
    tip points at orientation x 45 degrees (+-15), the evidence for the sacral-position class."""
    u = rng.uniform
    s, _ = _uterus_fluid(rng)
    cx, cy = _at(rng, (0.45, 0.58))
    ang = np.deg2rad(45 * orientation + u(-15, 15))
    length = u(0.3, 0.4)
    d = np.array([np.cos(ang), np.sin(ang)])
    nrm = np.array([-d[1], d[0]])
    c = np.array([cx, cy])
    s.add(Blob(cx, cy, length / 2 + 0.06, u(0.07, 0.1), ang), jitter(Tissue(0.8, 0.6, 0.3), rng))
    curve = u(-0.03, 0.03)
    for i, t in enumerate(np.linspace(-0.5, 0.5, 8)):
        taper = 0.05 * (0.5 - t) + 0.008  # rows converge towards the tip
        bend = curve * (t * 2) ** 2
        for sgn in (-1, 1):
            p = c + d * t * length + nrm * (sgn * taper + bend)
            r = 0.016 * (1.1 - 0.5 * (t + 0.5))
            s.add(Blob(p[0], p[1], r, r), jitter(BONE, rng, ECHO_JITTER_DB))
    return s


PLANES = ("abdomen", "brain", "femur", "thorax", "cervix", "other")  # fetal_plane_cls classes, in order


def fetal_planes(rng: np.random.Generator, plane: int = 0) -> Scene:
    """A standard plane: the anatomy that defines it (the organ models above) is what is visible."""
    name = PLANES[plane]
    if name == "abdomen":
        return fetal_abdomen(rng)
    if name == "brain":
        return fetal_head(rng)
    if name == "femur":
        return femur(rng)
    if name == "thorax":
        return fetal_heart(rng)
    if name == "cervix":
        return cervix(rng)
    s, top = _uterus_fluid(rng)  # other: cord loops and limb fragments in fluid
    u = rng.uniform
    for _ in range(rng.integers(2, 5)):
        x, y = _at(rng, (0.35, 0.75), (0.2, 0.8))
        r = u(0.02, 0.04)
        s.add(ring(Blob(x, y, r, r), 0.01), Tissue(1.5, 0.6, 0.1))
    for _ in range(rng.integers(1, 3)):
        x, y = _at(rng, (0.35, 0.75), (0.25, 0.75))
        s.add(Blob(x, y, u(0.06, 0.12), u(0.03, 0.06), u(0, 3.1)), jitter(Tissue(0.9, 0.6, 0.3), rng))
    return s
