"""One generator per task id: draw the organ's anatomy with the task's variant, simulate the B-mode image, and
read the label off the same anatomy, so labels agree with the pixels after scan conversion.

Label conventions (pixels of the n x n image, pixel (i, j) has its centre at x = j, y = i):
- segmentation: uint8 mask of class indices, 0 outside the field of view;
- classification: the class index; the class is the variant the anatomy was drawn with;
- detection: the box [x_min, y_min, x_max, y_max] around the visible target pixels (x_max = last column + 1);
- regression: K keypoints [x, y] at the anatomy's landmarks (inside the field of view).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from m2dino.registry import get_task
from m2dino.synth.anatomy import ORGANS
from m2dino.synth.bmode import bmode
from m2dino.synth.geometry import geometry
from m2dino.synth.scene import Scene


@dataclass
class Sample:
    image: np.ndarray  # uint8 [n, n]
    mask: np.ndarray | None = None  # segmentation
    label: int | None = None  # classification
    box: tuple | None = None  # detection, pixels xyxy
    points: list | None = None  # regression, pixels [[x, y], ...]


@dataclass(frozen=True)
class Spec:
    """How a task reads its label from its organ's scene."""

    variant: Callable[[np.random.Generator], dict] = lambda rng: {}  # organ keyword arguments
    classes: dict | None = None  # segmentation: tag -> class index
    target: tuple = ()  # detection: tags of the boxed structure
    points: tuple = ()  # regression: landmark names
    label_of: Callable[[dict], int] | None = None  # classification: variant -> class


def _choice(key: str, values: tuple) -> Callable[[np.random.Generator], dict]:
    return lambda rng: {key: values[int(rng.integers(len(values)))]}


BREAST3 = ("normal", "benign", "malignant")  # breast_3cls classes, in order (ours)
LUNG3 = ("A", "B", "C")  # lung_disease_3cls: normal (A-lines), interstitial (B-lines), consolidation (ours)

SPECS: dict[str, Spec] = {
    "breast_lesion": Spec(_choice("kind", ("benign", "malignant")), classes={"lesion": 1}),
    "cardiac_multi": Spec(classes={"lv": 1, "myo": 2, "la": 3}),
    "carotid_artery": Spec(classes={"lumen": 1}),
    "cervix": Spec(classes={"cervix": 1}),
    "cervix_multi": Spec(classes={"anterior": 1, "posterior": 2}),
    "fetal_abdomen_multi": Spec(classes={"abdomen": 1, "stomach": 2, "vein": 3, "spine": 4}),
    "fetal_head": Spec(classes={"head": 1}),
    "fetal_heart": Spec(classes={"heart": 1}),
    "head_symphysis_multi": Spec(lambda rng: {"symphysis": True}, classes={"symphysis": 1, "head": 2}),
    "lung": Spec(_choice("pattern", LUNG3), classes={"lung": 1}),
    "ovary_tumor": Spec(classes={"tumor": 1}),
    "thyroid_nodule": Spec(classes={"nodule": 1}),
    "breast_2cls": Spec(_choice("kind", ("benign", "malignant")), label_of=lambda v: int(v["kind"] == "malignant")),
    "breast_3cls": Spec(_choice("kind", BREAST3), label_of=lambda v: BREAST3.index(v["kind"])),
    "fetal_head_pos_cls": Spec(_choice("orientation", tuple(range(8))), label_of=lambda v: v["orientation"]),
    "fetal_plane_cls": Spec(_choice("plane", tuple(range(6))), label_of=lambda v: v["plane"]),
    "fetal_sacral_pos_cls": Spec(_choice("orientation", tuple(range(8))), label_of=lambda v: v["orientation"]),
    "liver_lesion_2cls": Spec(_choice("malignant", (False, True)), label_of=lambda v: int(v["malignant"])),
    "lung_2cls": Spec(_choice("pattern", ("A", "B")), label_of=lambda v: int(v["pattern"] == "B")),
    "lung_disease_3cls": Spec(_choice("pattern", LUNG3), label_of=lambda v: LUNG3.index(v["pattern"])),
    "organ_cls": Spec(_choice("organ", tuple(range(6))), label_of=lambda v: v["organ"]),
    "spinal_cord_injury_loc": Spec(target=("injury",)),
    "thyroid_nodule_det": Spec(target=("nodule",)),
    "uterine_fibroid_det": Spec(target=("fibroid",)),
    # the cervical-length view is taken to show the canal from os to os: a wider, brighter canal than the cervix
    # segmentation views (calibrated on val, data seed 0: TS was at the floor with theirs; data/README.md)
    "FUGC": Spec(lambda rng: {"canal": (0.012, 0.02), "canal_echo": 6.0}, points=("internal_os", "external_os")),
    "IUGC": Spec(lambda rng: {"symphysis": True}, points=("sym_upper", "sym_lower", "head_tangent")),
    "fetal_femur": Spec(points=("femur_end_1", "femur_end_2")),
}

MIN_TARGET_PX = 4  # a box or the main segmentation class must show at least this many pixels


def make_sample(task_id: str, rng: np.random.Generator, n: int) -> Sample:
    """One image and its label for a task, from a random generator (the only source of randomness)."""
    task, spec = get_task(task_id), SPECS[task_id]
    organ = ORGANS[task.organ]
    for _ in range(50):  # redraw the rare scene whose label would not be visible in the field of view
        variant = spec.variant(rng)
        scene: Scene = organ(rng, **variant)
        g = geometry(scene.kind, n)
        painted = scene.paint(g.grid())
        ids = np.where(g.fov, painted, 0)
        out = Sample(image=np.empty(0, np.uint8))
        if spec.classes is not None:
            out.mask = scene.classes(ids, spec.classes)
            if (out.mask == 1).sum() < MIN_TARGET_PX:
                continue
        elif spec.target:
            tgt = scene.classes(ids, {t: 1 for t in spec.target})
            rows, cols = np.nonzero(tgt)
            if rows.size < MIN_TARGET_PX:
                continue
            out.box = (int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1)
        elif spec.points:
            pts = [scene.points[p] for p in spec.points]
            if not all(g.inside(pu, pv, margin=0.01) for pu, pv in pts):
                continue
            out.points = [[float(pu * n - 0.5), float(pv * n - 0.5)] for pu, pv in pts]
        else:
            out.label = spec.label_of(variant)
        sim_ids = g.to_sim(painted)  # the physics sees the same painted anatomy as the labels
        amp, att = scene.maps(sim_ids, rng)
        out.image = bmode(amp, att, g, rng, scene.acq)
        return out
    raise RuntimeError(f"{task_id}: no scene with a visible label in 50 draws; the anatomy model is broken")
