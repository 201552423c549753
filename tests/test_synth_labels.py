"""Labels agree with the pixels (after scan conversion) and follow the evidence a sonographer uses."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import binary_dilation

from m2dino.registry import get_task, task_ids
from m2dino.synth.anatomy import breast, lung
from m2dino.synth.bmode import bmode
from m2dino.synth.geometry import geometry
from m2dino.synth.tasks import SPECS, make_sample

N = 48


def _samples(task_id: str, k: int = 6) -> list:
    return [make_sample(task_id, np.random.default_rng(i), N) for i in range(k)]


def test_every_registry_task_has_a_generator() -> None:
    assert set(SPECS) == set(task_ids())


@pytest.mark.parametrize("task_id", task_ids())
def test_labels_have_the_task_format_and_stay_in_the_field_of_view(task_id: str) -> None:
    task = get_task(task_id)
    for s in _samples(task_id, 3):
        assert s.image.shape == (N, N) and s.image.dtype == np.uint8
        fov = geometry(task.probe, N).fov
        assert (s.image[~fov] == 0).all()
        if task.type == "segmentation":
            assert s.mask.shape == (N, N) and s.mask.max() < task.num_classes
            assert (s.mask[~fov] == 0).all() and (s.mask == 1).sum() >= 4
        elif task.type == "classification":
            assert 0 <= s.label < task.num_classes
        elif task.type == "detection":
            x0, y0, x1, y1 = s.box
            assert 0 <= x0 < x1 <= N and 0 <= y0 < y1 <= N
        else:
            assert len(s.points) == task.num_classes
            for x, y in s.points:
                assert fov[int(round(y)), int(round(x))]


@pytest.mark.parametrize("task_id", ["breast_lesion", "carotid_artery", "ovary_tumor"])
def test_dark_targets_are_darker_than_their_surroundings(task_id: str) -> None:
    darker = 0
    for s in _samples(task_id, 8):
        m = s.mask == 1
        ring = binary_dilation(m, iterations=3) & ~m & (s.image > 0)
        darker += s.image[m].mean() < s.image[ring].mean()
    assert darker >= 7


def test_fibroid_box_encloses_a_hypoechoic_mass() -> None:
    darker = 0
    for s in _samples("uterine_fibroid_det", 8):
        x0, y0, x1, y1 = s.box
        inside = s.image[y0:y1, x0:x1].astype(float)
        pad = np.zeros((N, N), bool)
        pad[max(y0 - 4, 0):y1 + 4, max(x0 - 4, 0):x1 + 4] = True
        pad[y0:y1, x0:x1] = False
        darker += inside.mean() < s.image[pad & (s.image > 0)].mean()
    assert darker >= 6


def test_femur_keypoints_sit_on_bright_bone() -> None:
    for s in _samples("fetal_femur", 6):
        fov_vals = s.image[s.image > 0]
        for x, y in s.points:
            i, j = int(round(y)), int(round(x))
            assert s.image[max(i - 1, 0):i + 2, max(j - 1, 0):j + 2].max() > np.percentile(fov_vals, 75)


def _render(scene, n: int = 64, seed: int = 0) -> np.ndarray:
    g = geometry(scene.kind, n)
    ids = scene.paint(g.grid())
    amp, att = scene.maps(g.to_sim(ids), np.random.default_rng(seed))
    return bmode(amp, att, g, np.random.default_rng(seed + 1), scene.acq)


def _behind_lesion_db(kind: str, seed: int) -> float:
    """Grey level behind the lesion minus beside it, at the same depth (dB of the display)."""
    s = breast(np.random.default_rng(seed), kind)
    les = s.layers[-1].shape
    n = 64
    img = _render(s, n, seed).astype(float)
    j = int(les.cx * n)
    i0, i1 = int((les.cy + les.b * 1.3) * n), int((les.cy + les.b * 1.3 + 0.15) * n)
    if i1 >= n - 1 or i0 >= n - 4:
        return np.nan
    w = max(int(les.a * n * 0.5), 2)
    behind = img[i0:i1, j - w:j + w].mean()
    side = np.r_[img[i0:i1, max(j - 5 * w, 0):j - 3 * w].ravel(), img[i0:i1, j + 3 * w:j + 5 * w].ravel()]
    return (behind - side.mean()) / 255 * s.acq.dynamic_range


def test_malignant_breast_lesions_shadow_and_benign_ones_enhance() -> None:
    mal = np.nanmean([_behind_lesion_db("malignant", i) for i in range(10)])
    ben = np.nanmean([_behind_lesion_db("benign", i) for i in range(10)])
    assert mal < -3 and ben > 0, (mal, ben)
    for seed in range(10):
        m = breast(np.random.default_rng(seed), "malignant").layers[-1].shape
        b = breast(np.random.default_rng(seed), "benign").layers[-1].shape
        assert m.b > m.a and b.b < b.a  # taller than wide vs wider than tall
        assert max(h[0] for h in m.harmonics) >= 7  # spiculated boundary
    assert not any("lesion" in ly.tags for ly in breast(np.random.default_rng(0), "normal").layers)


def test_lung_b_lines_are_vertical_and_a_lines_horizontal() -> None:
    def anisotropy(pattern: str) -> float:
        vals = []
        for seed in range(4):
            img = _render(lung(np.random.default_rng(seed), pattern), 64, seed).astype(float)[40:60, 16:48]
            vals.append(img.mean(0).std() / (img.mean(1).std() + 1e-6))  # column profile vs row profile
        return float(np.mean(vals))
    assert anisotropy("B") > 1.5 * anisotropy("A")


@pytest.mark.parametrize("kind", ["linear", "convex", "phased"])
def test_depth_band_bounding_box_holds_every_pixel_of_the_band(kind: str) -> None:
    """Scene.paint evaluates a DepthBand only inside its bounding box, so the box must never cut the band."""
    from m2dino.synth.scene import DepthBand, Scene, SOFT

    rng = np.random.default_rng(0)
    for n in (32, 64, 128):
        g = geometry(kind, n).grid()
        for _ in range(40):
            d0 = rng.uniform(-0.2, 1.1)
            band = DepthBand(kind, d0, d0 + rng.uniform(0.01, 0.6), (rng.uniform(0, 0.05), rng.uniform(0.3, 2),
                                                                     rng.uniform(0, 6.3)))
            scene = Scene(kind)
            scene.add(band, SOFT)
            np.testing.assert_array_equal(scene.paint(g) == 1, band(g))
