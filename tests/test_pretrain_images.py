"""No labelled image, in particular no test image, is ever drawn by the pretraining: its seed namespace is disjoint."""
import zlib

import numpy as np
import pytest

from m2dino import registry
from m2dino.config import load
from m2dino.pretrain.images import PRETRAIN_SPLIT_CODE, pretrain_key, pretrain_rng, unlabelled_images
from m2dino.synth.generate import SPLITS, counts, item_rng
from m2dino.synth.tasks import make_sample


def test_labelled_splits_use_the_key_layout_the_namespace_relies_on():
    # if the generator's seeding changes, this fails, and images.py must be revisited
    a = item_rng(0, "smoke", "fetal_head", "test", 5).random(4)
    key = [0, zlib.crc32(b"smoke"), zlib.crc32(b"fetal_head"), SPLITS.index("test"), 5]
    assert np.array_equal(a, np.random.default_rng(np.random.SeedSequence(key)).random(4))
    assert PRETRAIN_SPLIT_CODE not in range(len(SPLITS))


@pytest.mark.parametrize("profile", ["smoke", "demo"])
def test_pretrain_streams_are_disjoint_from_every_labelled_stream(profile):
    cfg = load([f"profile={profile}"])
    n = int(cfg.pretrain.images_per_task)
    labelled = {tuple(np.random.SeedSequence([s, zlib.crc32(profile.encode()), zlib.crc32(t.encode()), SPLITS.index(sp),
                                              i]).generate_state(4))
                for t, c in counts(cfg).items() for sp in SPLITS for i in range(c[sp])
                for s in {0, 1, 2, int(cfg.data.seed)}}
    ours = {tuple(np.random.SeedSequence(pretrain_key(int(cfg.pretrain.seed), profile, t, i)).generate_state(4))
            for t in registry.task_ids() for i in range(n)}
    assert len(ours) == 27 * n and not ours & labelled


def test_pretrain_images_differ_from_the_test_images_pixel_for_pixel():
    cfg = load(["profile=smoke", "pretrain.images_per_task=2"])
    size = int(cfg.data.image_size)
    imgs = unlabelled_images(cfg)
    assert imgs.shape == (27 * 2, 3, size, size) and imgs.dtype.is_floating_point is False
    for k, t in enumerate(registry.task_ids()[::9]):
        test = [make_sample(t, item_rng(0, "smoke", t, "test", i), size).image for i in range(2)]
        ours = imgs[registry.task_ids().index(t) * 2:][:2, 0].numpy()
        for img in ours:
            assert not any(np.array_equal(img, x) for x in test)
    again = make_sample("fetal_head", pretrain_rng(0, "smoke", "fetal_head", 1), size).image
    assert np.array_equal(again, imgs[registry.task_ids().index("fetal_head") * 2 + 1, 0].numpy())  # deterministic
