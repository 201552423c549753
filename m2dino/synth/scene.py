"""Parametric anatomy: tissues, shapes in normalised image coordinates, and a scene that paints them.

Shapes are evaluated analytically at any points ``(u, v)`` (u lateral, v down, both in [0, 1] of the image), so the
same scene paints the simulation grid (what the physics sees) and the pixel centres of the image (what the labels
say): masks, boxes and keypoints agree with the pixels by construction.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from m2dino.synth.bmode import Acquisition
from m2dino.synth.geometry import Grid, _frame

Array = np.ndarray


@dataclass(frozen=True)
class Tissue:
    """Acoustic properties of a tissue."""

    echo: float  # scatterer amplitude relative to reference soft tissue (1.0); 0.005 is fluid, 5 bone
    att: float = 0.5  # attenuation, dB/cm/MHz
    tex: float = 0.2  # texture: std of the low-frequency log-amplitude variation


# Presets; generators vary them per image.
SKIN = Tissue(2.5, 0.8, 0.1)
FAT = Tissue(0.35, 0.6, 0.3)
MUSCLE = Tissue(0.6, 0.9, 0.4)
GLAND = Tissue(1.1, 0.7, 0.5)
SOFT = Tissue(1.0, 0.5, 0.25)
FLUID = Tissue(0.006, 0.05, 0.0)
BLOOD = Tissue(0.012, 0.15, 0.0)
BONE = Tissue(5.0, 12.0, 0.1)


def jitter(t: Tissue, rng: np.random.Generator, echo_db: float = 3.0) -> Tissue:
    """A tissue with its echogenicity varied by up to +-echo_db dB."""
    return Tissue(t.echo * 10 ** (rng.uniform(-echo_db, echo_db) / 20), t.att, t.tex)


TEXTURE_CELLS = 10  # the texture field varies over about a tenth of the image


@lru_cache(maxsize=8)
def _interp_matrix(n: int) -> np.ndarray:
    """[n, TEXTURE_CELLS] linear-interpolation weights from coarse cells to n samples."""
    pos = np.clip((np.arange(n) + 0.5) / n * TEXTURE_CELLS - 0.5, 0, TEXTURE_CELLS - 1)
    i0 = np.minimum(np.floor(pos).astype(int), TEXTURE_CELLS - 2)
    w = pos - i0
    m = np.zeros((n, TEXTURE_CELLS), np.float32)
    m[np.arange(n), i0] = 1 - w
    m[np.arange(n), i0 + 1] = w
    return m


BBox = tuple[float, float, float, float] | None  # (u0, u1, v0, v1), None = unbounded


class Shape:
    """A region of the image plane; ``shape(grid)`` is a boolean array over the grid's points."""

    def __call__(self, g: Grid) -> Array:
        raise NotImplementedError

    def bbox(self) -> BBox:
        return None

    def __and__(self, other: Shape) -> Shape:
        return _Op(np.logical_and, self, other)

    def __or__(self, other: Shape) -> Shape:
        return _Op(np.logical_or, self, other)

    def __sub__(self, other: Shape) -> Shape:
        return _Op(lambda a, b: a & ~b, self, other)


@dataclass
class _Op(Shape):
    op: object
    a: Shape
    b: Shape

    def __call__(self, g: Grid) -> Array:
        return self.op(self.a(g), self.b(g))

    def bbox(self) -> BBox:
        a, b = self.a.bbox(), self.b.bbox()
        if self.op is np.logical_and:
            if a is None or b is None:
                return a if b is None else b
            return max(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), min(a[3], b[3])
        if self.op is np.logical_or:
            if a is None or b is None:
                return None
            return min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3])
        return a


def _frame_coords(u: Array, v: Array, cx: float, cy: float, ang: float) -> tuple[Array, Array]:
    du, dv = u - cx, v - cy
    c, s = np.cos(ang), np.sin(ang)
    return du * c + dv * s, -du * s + dv * c


@dataclass
class Blob(Shape):
    """An ellipse (semi-axes a along the rotated x axis, b across), optionally with a harmonic boundary.

    ``harmonics`` = [(k, amplitude, phase), ...] modulates the radius: low k makes lobulated shapes, high k with
    large amplitude makes spiculated ones.
    """

    cx: float
    cy: float
    a: float
    b: float
    ang: float = 0.0
    harmonics: tuple = ()

    def radius(self, phi: Array) -> Array:
        r = np.ones_like(phi)
        for k, amp, ph in self.harmonics:
            r = r + amp * np.cos(k * phi + ph)
        return r

    def bbox(self) -> BBox:
        r = max(self.a, self.b) * (1 + sum(abs(h[1]) for h in self.harmonics))
        return self.cx - r, self.cx + r, self.cy - r, self.cy + r

    def __call__(self, g: Grid) -> Array:
        x, y = _frame_coords(g.u, g.v, self.cx, self.cy, self.ang)
        x, y = x / self.a, y / self.b
        rho2 = x * x + y * y
        if not self.harmonics:
            return rho2 <= 1.0
        rmax = 1 + sum(abs(h[1]) for h in self.harmonics)
        out = rho2 <= rmax * rmax
        idx = np.nonzero(out)
        out[idx] = np.sqrt(rho2[idx]) <= self.radius(np.arctan2(y[idx], x[idx]))
        return out

    def point(self, phi: float, scale: float = 1.0) -> tuple[float, float]:
        """The image point at angle phi (in the blob's frame) on its boundary times scale."""
        r = float(self.radius(np.array([phi]))[0]) * scale
        x, y = r * self.a * np.cos(phi), r * self.b * np.sin(phi)
        c, s = np.cos(self.ang), np.sin(self.ang)
        return self.cx + x * c - y * s, self.cy + x * s + y * c


def ring(b: Blob, thickness: float) -> Shape:
    """The wall of a blob: the blob minus its copy shrunk by thickness (image fraction)."""
    inner = Blob(b.cx, b.cy, max(b.a - thickness, 1e-3), max(b.b - thickness, 1e-3), b.ang, b.harmonics)
    return b - inner


@dataclass
class Polyline(Shape):
    """Points within radius r of a polyline (a capsule for two points): bones, canals, lines."""

    pts: tuple
    r: float

    def bbox(self) -> BBox:
        p = np.asarray(self.pts, float)
        return p[:, 0].min() - self.r, p[:, 0].max() + self.r, p[:, 1].min() - self.r, p[:, 1].max() + self.r

    def __call__(self, g: Grid) -> Array:
        u, v = g.u, g.v
        p = np.asarray(self.pts, float)
        d2 = np.full(np.shape(u), np.inf)
        for (x0, y0), (x1, y1) in zip(p[:-1], p[1:]):
            dx, dy = x1 - x0, y1 - y0
            t = np.clip(((u - x0) * dx + (v - y0) * dy) / max(dx * dx + dy * dy, 1e-12), 0, 1)
            d2 = np.minimum(d2, (u - x0 - t * dx) ** 2 + (v - y0 - t * dy) ** 2)
        return d2 <= self.r * self.r


@dataclass
class HalfPlane(Shape):
    """Points on the positive side of the line through (cx, cy) with direction angle ang."""

    cx: float
    cy: float
    ang: float

    def __call__(self, g: Grid) -> Array:
        u, v = g.u, g.v
        return -(u - self.cx) * np.sin(self.ang) + (v - self.cy) * np.cos(self.ang) >= 0


@dataclass
class DepthBand(Shape):
    """Tissue between two depths below the probe surface, as fractions of the imaging depth, with wavy borders.

    For a linear probe depth is v; for sector probes it is the distance from the probe surface along the beam, so
    layers follow the curved skin line. ``wave`` = (amplitude, cycles across the field, phase).
    """

    kind: str
    d0: float
    d1: float
    wave: tuple = (0.0, 1.0, 0.0)

    def bbox(self) -> BBox:
        """The image rows the band can reach (its depths widened by the wave), so ``Scene.paint`` evaluates it there
        only; bounds hold with room to spare (at least half a pixel after paint's rounding)."""
        amp = abs(self.wave[0])
        lo, hi = self.d0 - amp, self.d1 + amp
        if self.kind == "linear":  # depth is v
            return 0.0, 1.0, lo, hi
        x0, y0, side, r0, r1, _ = _frame(self.kind)
        r_lo, r_hi = r0 + lo * (r1 - r0), r0 + hi * (r1 - r0)
        # depth <= hi: radius <= r_hi, so y <= r_hi; depth >= lo: radius >= r_lo with |x| <= side / 2 in the frame
        y_lo = float(np.sqrt(r_lo * r_lo - side * side / 4)) if r_lo > side / 2 else -np.inf
        return 0.0, 1.0, max((y_lo - y0) / side, -1.0), (r_hi - y0) / side

    def __call__(self, g: Grid) -> Array:
        d, lat = g.dl()
        amp, cyc, ph = self.wave
        off = amp * np.sin(2 * np.pi * cyc * lat + ph)
        return (d >= self.d0 + off) & (d < self.d1 + off)


@dataclass
class Beam(Shape):
    """A strip along the beam direction (lateral position lat0..lat1 in [0, 1] of the field, depth d0..d1)."""

    kind: str
    lat0: float
    lat1: float
    d0: float = 0.0
    d1: float = 1.0

    def __call__(self, g: Grid) -> Array:
        d, lat = g.dl()
        return (lat >= self.lat0) & (lat <= self.lat1) & (d >= self.d0) & (d <= self.d1)


@dataclass
class Layer:
    shape: Shape
    tissue: Tissue
    tags: tuple = ()  # names the task generators map to classes (e.g. "lesion", "head")


@dataclass
class Scene:
    """Background tissue plus layers painted in order (later layers cover earlier ones)."""

    kind: str  # probe kind
    background: Tissue = SOFT
    layers: list = field(default_factory=list)
    acq: Acquisition = Acquisition()
    points: dict = field(default_factory=dict)  # named landmarks, (u, v)

    def add(self, shape: Shape, tissue: Tissue, *tags: str) -> Layer:
        layer = Layer(shape, tissue, tuple(tags))
        self.layers.append(layer)
        return layer

    def paint(self, g: Grid) -> Array:
        """Index of the visible layer at each point of a regular grid (0 = background, k = layers[k-1]).

        The grid is the image's pixel centres (rows = v, columns = u), so each shape is evaluated only inside
        its bounding box.
        """
        n_v, n_u = g.u.shape
        out = np.zeros((n_v, n_u), np.int16)
        for k, layer in enumerate(self.layers, 1):
            bb = layer.shape.bbox()
            if bb is None:
                out[layer.shape(g)] = k
                continue
            j0, j1 = max(int(np.floor(bb[0] * n_u)), 0), min(int(np.ceil(bb[1] * n_u)) + 1, n_u)
            i0, i1 = max(int(np.floor(bb[2] * n_v)), 0), min(int(np.ceil(bb[3] * n_v)) + 1, n_v)
            if j1 <= j0 or i1 <= i0:
                continue
            sl = (slice(i0, i1), slice(j0, j1))
            out[sl][layer.shape(g.sub(sl))] = k
        return out

    def maps(self, ids: Array, rng: np.random.Generator) -> tuple[Array, Array]:
        """Scatterer amplitude (with texture) and attenuation maps for painted ids."""
        ts = [self.background] + [ly.tissue for ly in self.layers]
        echo = np.array([t.echo for t in ts], np.float32)[ids]
        att = np.array([t.att for t in ts], np.float32)[ids]
        tex = np.array([t.tex for t in ts], np.float32)[ids]
        coarse = rng.standard_normal((TEXTURE_CELLS, TEXTURE_CELLS)).astype(np.float32)
        a = _interp_matrix(ids.shape[0])
        smooth = a @ coarse @ a.T  # bilinear upsampling of coarse noise: a smooth texture field
        return echo * np.exp(tex * smooth), att

    def classes(self, ids: Array, tag_to_class: dict) -> Array:
        """Class index of each point: the class of the first tag of the visible layer found in tag_to_class."""
        lut = np.zeros(len(self.layers) + 1, np.uint8)
        for k, layer in enumerate(self.layers, 1):
            for t in layer.tags:
                if t in tag_to_class:
                    lut[k] = tag_to_class[t]
                    break
        return lut[ids]
