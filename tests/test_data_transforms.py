"""Joint geometry keeps masks, boxes and keypoints consistent; flips only where anatomy allows."""
from __future__ import annotations

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from m2dino.data import transforms
from m2dino.data.transforms import AugmentConfig

STRONG = AugmentConfig(rotate_deg=25.0, scale=(0.8, 1.2), translate=0.1, gain=0.0, contrast=0.0, hflip_p=0.5)
STILL = AugmentConfig(rotate_deg=0.0, scale=(1.0, 1.0), translate=0.0, gain=0.0, contrast=0.0, hflip_p=1.0)


def square_sample(s: int = 64) -> dict:
    """A bright off-centre square, with its mask, box and corners as keypoints."""
    img = torch.zeros(1, s, s, dtype=torch.uint8)
    x0, y0, x1, y1 = 14, 20, 34, 44
    img[:, y0:y1, x0:x1] = 255
    mask = torch.zeros(1, s, s, dtype=torch.uint8)
    mask[:, y0:y1, x0:x1] = 1
    return {"image": tv_tensors.Image(img), "mask": tv_tensors.Mask(mask),
            "box": tv_tensors.BoundingBoxes([[float(x0), y0, x1, y1]], format="XYXY", canvas_size=(s, s)),
            "points": tv_tensors.KeyPoints([[float(x0), y0], [x1, y0], [x1, y1], [x0, y1]], canvas_size=(s, s))}


def test_geometry_stays_consistent_under_rotation_scale_flip():
    aug = transforms.augment("breast_lesion", STRONG)
    for seed in range(8):
        torch.manual_seed(seed)
        out = aug(square_sample())
        bright = out["image"][0] > 127
        mask = out["mask"][0].bool()
        iou = (bright & mask).sum() / (bright | mask).sum()
        assert iou > 0.85, (seed, iou)
        pts = out["points"].as_subclass(torch.Tensor)
        box = out["box"].as_subclass(torch.Tensor)[0]
        # the box of a rotated square is the enclosing box of its rotated corners
        enclosing = torch.stack([pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max()])
        assert torch.allclose(box, enclosing.clamp(0, 64), atol=1.0), (seed, box, enclosing)
        ys, xs = torch.nonzero(mask, as_tuple=True)
        assert abs(xs.float().mean() + 0.5 - pts[:, 0].mean()) < 1.5 and abs(ys.float().mean() + 0.5 -
                                                                            pts[:, 1].mean()) < 1.5


def test_flip_really_flips_where_allowed_and_never_for_position_tasks():
    s = square_sample()
    flipped = transforms.augment("breast_2cls", STILL)(s)
    assert torch.equal(flipped["image"], s["image"].flip(-1))
    assert torch.allclose(flipped["box"].as_subclass(torch.Tensor), torch.tensor([[30., 20., 50., 44.]]))
    for tid in ("fetal_head_pos_cls", "fetal_sacral_pos_cls"):
        assert not transforms.hflip_allowed(tid, AugmentConfig())
        for seed in range(5):
            torch.manual_seed(seed)
            assert torch.equal(transforms.augment(tid, STILL)(s)["image"], s["image"])


def test_no_vertical_flip_anywhere():
    from m2dino import registry
    for t in registry.all_tasks():
        aug = transforms.augment(t.id, AugmentConfig())
        assert not any(isinstance(op, v2.RandomVerticalFlip) for op in aug.transforms)


def test_resize_and_finish_follow_the_contract():
    s = square_sample()
    s["points"] = tv_tensors.KeyPoints([[16.0, 32.0]], canvas_size=(64, 64))
    r = transforms.resize(32)(s)
    image, target = transforms.finish(r, "regression")
    assert image.shape == (3, 32, 32) and image.dtype == torch.float32
    assert torch.allclose(target, torch.tensor([[0.25, 0.5]]))
    mean = torch.tensor(transforms.IMAGENET_MEAN)[:, None, None]
    std = torch.tensor(transforms.IMAGENET_STD)[:, None, None]
    assert torch.allclose(image[:, 0, 0], (-mean / std)[:, 0, 0])  # black pixel, ImageNet-normalised
    _, seg = transforms.finish(r, "segmentation")
    assert seg.dtype == torch.int64 and seg.shape == (32, 32) and set(seg.unique().tolist()) == {0, 1}
