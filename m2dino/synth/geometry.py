"""Probe geometry: where each simulation sample lies in the image, the scan conversion back to pixels, and the
paintable grid with depth along the beam and lateral position (so scene, bmode and geometry import in one direction).

Anatomy lives in normalised image coordinates ``(u, v)`` in [0, 1]^2 (u lateral, v down; pixel (i, j) has its centre
at ``u = (j + 0.5) / n, v = (i + 0.5) / n``). The B-mode model runs on a grid whose first axis is depth along the
beam: for a linear probe that grid is the image itself; for convex and phased probes it is polar (radius, angle),
and a precomputed bilinear lookup maps it to the Cartesian pixels (scan conversion), black outside the sector.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from m2dino.synth.psf import PROBES

CONVEX_RADIUS = 0.04957  # m, the C5-2v's radius of curvature (pymust getparam)
PHASED_APEX = 0.004  # m, the phased array's footprint: the sector starts this far below its virtual apex


@dataclass(frozen=True)
class Geometry:
    """One probe's field of view on an n x n image."""

    kind: str
    n: int
    sim_u: np.ndarray  # [n, n] image coordinates of each simulation sample (rows = depth)
    sim_v: np.ndarray
    img_u: np.ndarray  # [n, n] image coordinates of each pixel centre
    img_v: np.ndarray
    fov: np.ndarray  # [n, n] bool, pixels inside the field of view
    depth_cm: np.ndarray  # [n] depth of each simulation row below the skin, in cm
    lut_idx: np.ndarray | None  # [4, n*n] flat indices into the sim grid (sector probes)
    lut_w: np.ndarray | None  # [4, n*n] bilinear weights (0 outside the sector)
    sim_from_img: np.ndarray | None  # [n, n] flat index of the pixel nearest each simulation sample (sectors)
    _grid: object = None

    def scan_convert(self, sim: np.ndarray) -> np.ndarray:
        """Map a [n, n] simulation-grid image to the [n, n] Cartesian image (identity for linear probes)."""
        if self.lut_idx is None:
            return sim
        flat = sim.reshape(-1)
        return (flat[self.lut_idx] * self.lut_w).sum(0).reshape(self.n, self.n)

    def to_sim(self, img: np.ndarray) -> np.ndarray:
        """Resample a per-pixel map (e.g. painted tissue ids) onto the simulation grid (nearest pixel)."""
        return img if self.sim_from_img is None else img.reshape(-1)[self.sim_from_img]

    def grid(self) -> Grid:
        """The pixel centres as a paintable grid (depth and lateral position precomputed)."""
        if self._grid is None:
            object.__setattr__(self, "_grid", Grid(self.kind, self.img_u, self.img_v,
                                                   *depth_lateral(self.kind, self.img_u, self.img_v)))
        return self._grid

    def inside(self, u: np.ndarray | float, v: np.ndarray | float, margin: float = 0.0) -> np.ndarray:
        """Whether image points lie in the field of view, at least ``margin`` (image fraction) from its edge."""
        r, th, r0, r1, half = self._polar(np.asarray(u, float), np.asarray(v, float))
        if self.kind == "linear":
            return (np.minimum.reduce([u, 1 - np.asarray(u), v, 1 - np.asarray(v)]) >= margin)
        ok = (r >= r0 + margin * self._side) & (r <= r1 - margin * self._side)
        return ok & (np.abs(th) <= half - margin * self._side / np.maximum(r, 1e-9))

    @property
    def _side(self) -> float:
        return _frame(self.kind)[2]

    def _polar(self, u: np.ndarray, v: np.ndarray):
        x0, y0, side, r0, r1, half = _frame(self.kind)
        x, y = x0 + u * side, y0 + v * side
        return np.hypot(x, y), np.arctan2(x, y), r0, r1, half


@lru_cache(maxsize=8)
def _frame(kind: str) -> tuple[float, float, float, float, float, float]:
    """The square frame around a probe's field of view, with the apex at the origin and y pointing down.

    Returns (x of the frame's left edge, y of its top edge, its side, min radius, max radius, half opening angle),
    all in m; for linear probes the radii and angle are unused.
    """
    p = PROBES[kind]
    if kind == "linear":
        return -p.width / 2, 0.0, p.depth, 0.0, 0.0, 0.0
    r0 = CONVEX_RADIUS if kind == "convex" else PHASED_APEX
    r1, half = r0 + p.depth, p.width / 2
    side = max(2 * r1 * np.sin(half), r1 - r0 * np.cos(half))
    top = r0 * np.cos(half)
    return -side / 2, top, side, r0, r1, half


def depth_lateral(kind: str, u: Array, v: Array) -> tuple[Array, Array]:
    """Depth below the probe surface (fraction of imaging depth) and lateral position (0..1 across the field)."""
    if kind == "linear":
        return v, u
    x0, y0, side, r0, r1, half = _frame(kind)
    x, y = x0 + u * side, y0 + v * side
    return (np.hypot(x, y) - r0) / (r1 - r0), (np.arctan2(x, y) + half) / (2 * half)


def from_depth_lateral(kind: str, d: float, lat: float) -> tuple[float, float]:
    """Image coordinates (u, v) of a point at depth fraction d and lateral position lat."""
    if kind == "linear":
        return lat, d
    x0, y0, side, r0, r1, half = _frame(kind)
    r, th = r0 + d * (r1 - r0), -half + lat * 2 * half
    return (r * np.sin(th) - x0) / side, (r * np.cos(th) - y0) / side


class Grid:
    """Points to paint: image coordinates u, v, with depth and lateral position along the beam computed once."""

    def __init__(self, kind: str, u: np.ndarray, v: np.ndarray, d: np.ndarray | None = None,
                 lat: np.ndarray | None = None) -> None:
        self.kind, self.u, self.v = kind, u, v
        self._dl = (d, lat) if d is not None else None

    def dl(self) -> tuple[np.ndarray, np.ndarray]:
        """(depth, lateral) of every point, computed on first use."""
        if self._dl is None:
            self._dl = depth_lateral(self.kind, self.u, self.v)
        return self._dl

    def sub(self, sl: tuple) -> Grid:
        """The points of a slice (shapes are evaluated inside their bounding box only)."""
        d, lat = self.dl() if self._dl is not None else (None, None)
        return Grid(self.kind, self.u[sl], self.v[sl], None if d is None else d[sl], None if lat is None else lat[sl])


@lru_cache(maxsize=16)
def geometry(kind: str, n: int) -> Geometry:
    """The (cached) geometry of a probe kind on an n x n image."""
    c = (np.arange(n) + 0.5) / n
    img_u, img_v = (a.astype(np.float32) for a in np.meshgrid(c, c))
    p = PROBES[kind]
    if kind == "linear":
        depth_cm = c * p.depth * 100
        return Geometry(kind, n, img_u, img_v, img_u, img_v, np.ones((n, n), bool), depth_cm, None, None, None)
    x0, y0, side, r0, r1, half = _frame(kind)
    # simulation grid: rows = radius r0..r1, columns = angle -half..half (sample centres)
    r = r0 + c * (r1 - r0)
    th = -half + c * 2 * half
    R, TH = np.meshgrid(r, th, indexing="ij")
    sim_u, sim_v = (R * np.sin(TH) - x0) / side, (R * np.cos(TH) - y0) / side
    # scan conversion: fractional sim indices of each pixel centre
    xr, yr = x0 + img_u * side, y0 + img_v * side
    pr, pth = np.hypot(xr, yr), np.arctan2(xr, yr)
    fi = (pr - r0) / (r1 - r0) * n - 0.5
    fj = (pth + half) / (2 * half) * n - 0.5
    fov = (pr >= r0) & (pr <= r1) & (np.abs(pth) <= half)
    fi, fj = np.clip(fi, 0, n - 1), np.clip(fj, 0, n - 1)
    i0, j0 = np.minimum(np.floor(fi).astype(int), n - 2), np.minimum(np.floor(fj).astype(int), n - 2)
    di, dj = fi - i0, fj - j0
    idx = np.stack([i0 * n + j0, i0 * n + j0 + 1, (i0 + 1) * n + j0, (i0 + 1) * n + j0 + 1]).reshape(4, -1)
    w = np.stack([(1 - di) * (1 - dj), (1 - di) * dj, di * (1 - dj), di * dj]) * fov
    near = (np.clip(np.floor(sim_v * n), 0, n - 1) * n + np.clip(np.floor(sim_u * n), 0, n - 1)).astype(np.int64)
    return Geometry(kind, n, sim_u, sim_v, img_u, img_v, fov, c * p.depth * 100, idx,
                    w.reshape(4, -1).astype(np.float32), near)
