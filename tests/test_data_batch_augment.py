"""A batch augmented at once is, byte for byte, the batch of items augmented one by one under their seeds."""
from __future__ import annotations

import pytest
import torch

from m2dino.config import load
from m2dino.data.build import PlannedItems, build_datasets
from m2dino.data.sampling import PlanKey

pytestmark = pytest.mark.usefixtures("one_thread")

# one task of each type; FUGC and fetal_head_pos_cls never flip, the others may; STRONG makes every step count
TASKS = ["breast_lesion", "breast_2cls", "thyroid_nodule_det", "FUGC", "fetal_head_pos_cls"]
STRONG = ["data.augment.rotate_deg=30", "data.augment.translate=0.2", "data.augment.scale=[0.7,1.3]",
          "data.augment.gain=0.5", "data.augment.contrast=0.5"]


def one_by_one(ds, indices, seeds):
    gen = torch.default_generator
    out = []
    for i, s in zip(indices, seeds):
        state = gen.get_state()
        gen.manual_seed(s)
        out.append(ds[i])
        gen.set_state(state)
    return out


@pytest.mark.parametrize("strong", [False, True])
def test_batch_augmentation_is_the_per_image_augmentation(smoke_data, strong):
    cfg = load(["profile=smoke", f"data.root={smoke_data}", *(STRONG if strong else [])])
    sets = build_datasets(cfg, TASKS, "train")
    for task, ds in sets.items():
        assert ds.batch_augmentable
        indices = [i % len(ds) for i in range(12)]
        seeds = [1_000_003 * i + 17 for i in range(12)]  # repeated images get other seeds
        before = torch.get_rng_state()
        batch = ds.augmented(indices, seeds)
        assert torch.equal(torch.get_rng_state(), before)  # the caller's generator is left as it was
        for a, b in zip(batch, one_by_one(ds, indices, seeds)):
            assert torch.equal(a["image"], b["image"]) and a["image"].dtype == b["image"].dtype, task
            assert torch.equal(a["target"], b["target"]) and a["target"].dtype == b["target"].dtype, task
            assert a["meta"] == b["meta"]
        # and the augmentation really happened: some image differs from the un-augmented one
        plain = build_datasets(cfg, [task], "train", train=False)[task]
        assert any(not torch.equal(x["image"], plain[i]["image"]) for x, i in zip(batch, indices)), task


def test_the_loader_fetches_a_planned_batch_at_once(smoke_data):
    cfg = load(["profile=smoke", f"data.root={smoke_data}"])
    items = PlannedItems(build_datasets(cfg, ["breast_lesion"], "train"))
    keys = [PlanKey("breast_lesion", i, 99 + i, 1.0) for i in range(4)]
    batch = items.__getitems__(keys)
    assert [k for k, _ in batch] == keys
    assert all(torch.equal(a["image"], b["image"]) for (_, a), (_, b) in zip(batch, (items[k] for k in keys)))


def test_grey_and_colour_images_in_one_batch_augment_as_one_by_one():
    """The real release mixes grey and RGB images within a task: a batch holding both is augmented kind by kind, each
    image exactly as alone (found by the paper rehearsal's release-layout data)."""
    from torchvision import tv_tensors

    from m2dino.data import transforms
    from m2dino.data.batch_augment import augment_batch

    aug = transforms.AugmentConfig(rotate_deg=30, translate=0.2, scale=(0.7, 1.3), gain=0.5, contrast=0.5)
    pipeline = transforms.augment("breast_2cls", aug)
    g = torch.Generator().manual_seed(0)
    samples = [{"image": tv_tensors.Image(torch.randint(0, 256, (c, 32, 32), generator=g, dtype=torch.uint8)),
                "label": i % 2} for i, c in enumerate([1, 3, 3, 1, 1, 3])]
    seeds = [101 * i + 7 for i in range(len(samples))]
    images, targets = augment_batch(pipeline, samples, seeds, "classification")
    gen = torch.default_generator
    for k, (s, seed) in enumerate(zip(samples, seeds)):
        state = gen.get_state()
        gen.manual_seed(seed)
        image, target = transforms.finish(pipeline(dict(s)), "classification")
        gen.set_state(state)
        assert torch.equal(images[k], image) and torch.equal(targets[k], target), k
