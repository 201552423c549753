"""The training augmentation of a whole batch at once, byte-identical per image to the per-image pipeline.

Per image, :func:`m2dino.data.transforms.augment` runs torchvision's v2 transforms on tiny tensors (64 x 64 at the
demo), where their per-call cost dominates: about 1.5 ms per image, a quarter of a demo training step (measured
2026-12-07, one thread). Here each image's parameters are still drawn by the same v2 transforms from the image's own
seed (in the same order, so the same numbers), and the work that costs is done once per batch: the affine warp of
images and masks is torchvision's own grid transform over a batch of per-image affine grids, the normalisation one
call on the batch. The cheap per-image parts (brightness and contrast in each image's order, the box and keypoint
geometry, clamping) call torchvision's kernels per image. A test checks every output tensor against the per-image
pipeline, byte for byte, for each task type.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF
from torchvision.transforms.v2._utils import _get_fill
from torchvision.transforms.v2.functional._geometry import _check_interpolation
from torchvision.transforms.v2.functional._geometry import (_affine_parse_args, _apply_grid_transform,
                                                            _get_inverse_affine_matrix)

from m2dino.data import transforms

_SUPPORTED = (v2.RandomAffine, v2.RandomHorizontalFlip, v2.ColorJitter, v2.ClampBoundingBoxes, v2.ClampKeyPoints)


def supported(pipeline: v2.Transform) -> bool:
    """Whether :func:`augment_batch` reproduces ``pipeline`` (the transforms :func:`transforms.augment` builds)."""
    if isinstance(pipeline, v2.Identity):
        return True
    return isinstance(pipeline, v2.Compose) and all(type(t) in _SUPPORTED for t in pipeline.transforms)


def _draw(pipeline: v2.Transform, image: tv_tensors.Image) -> list[tuple[v2.Transform, dict | None]]:
    """Each transform's parameters as its ``forward`` draws them (None: skipped), in the pipeline's order."""
    steps = []
    for t in getattr(pipeline, "transforms", []):
        if isinstance(t, v2.RandomHorizontalFlip):
            steps.append((t, {} if not bool(torch.rand(1) >= t.p) else None))  # _RandomApplyTransform.forward
        elif isinstance(t, (v2.RandomAffine, v2.ColorJitter)):
            steps.append((t, t.make_params([image])))
        else:
            steps.append((t, {}))
    return steps


def _affine_grids(params: Sequence[dict], height: int, width: int) -> torch.Tensor:
    """The sampling grids of ``affine_image`` for a batch of per-image parameters: [B, H, W, 2]."""
    thetas = []
    for p in params:
        angle, translate, shear, _ = _affine_parse_args(p["angle"], p["translate"], p["scale"], p["shear"],
                                                        v2.InterpolationMode.NEAREST, None)
        matrix = _get_inverse_affine_matrix([0.0, 0.0], angle, [float(t) for t in translate], p["scale"], shear)
        thetas.append(torch.tensor(matrix, dtype=torch.float32).reshape(1, 2, 3))
    theta = torch.cat(thetas)
    # torchvision's _affine_grid, with one theta per image
    base = torch.empty(1, height, width, 3, dtype=theta.dtype)
    base[..., 0].copy_(torch.linspace((1.0 - width) * 0.5, (width - 1.0) * 0.5, steps=width))
    base[..., 1].copy_(torch.linspace((1.0 - height) * 0.5, (height - 1.0) * 0.5, steps=height).unsqueeze_(-1))
    base[..., 2].fill_(1)
    rescaled = theta.transpose(1, 2).div_(torch.tensor([0.5 * width, 0.5 * height], dtype=theta.dtype))
    return torch.matmul(base.view(1, height * width, 3), rescaled).view(-1, height, width, 2)  # = bmm per image


def _color_jitter(image: torch.Tensor, p: dict) -> torch.Tensor:
    """v2.ColorJitter.transform on an image, calling the kernels it dispatches an image to, in the drawn order."""
    kernels = {0: (TF.adjust_brightness_image, "brightness_factor"), 1: (TF.adjust_contrast_image, "contrast_factor"),
               2: (TF.adjust_saturation_image, "saturation_factor"), 3: (TF.adjust_hue_image, "hue_factor")}
    for fn_id in p["fn_idx"].tolist():
        kernel, key = kernels[fn_id]
        if p[key] is not None:
            image = kernel(image, p[key])
    return image


def augment_batch(pipeline: v2.Transform, samples: Sequence[dict[str, Any]], seeds: Sequence[int],
                  task_type: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``transforms.finish(pipeline(sample))`` of every sample, each drawn under its seed in torch's global
    generator (left as it was), as the model's images [B, 3, S, S] and targets stacked."""
    if not supported(pipeline):
        raise ValueError(f"augment_batch cannot reproduce {pipeline}")
    channels = [int(s["image"].shape[0]) for s in samples]
    if len(set(channels)) > 1:  # grey and colour images in one batch (the real release mixes them): each kind
        # apart, as it would be one by one (a grey image's contrast is its own mean, not that of three copies)
        out: list = [None] * len(samples)
        for c in sorted(set(channels)):
            idx = [i for i, ci in enumerate(channels) if ci == c]
            images, targets = augment_batch(pipeline, [samples[i] for i in idx], [seeds[i] for i in idx], task_type)
            for j, i in enumerate(idx):
                out[i] = (images[j], targets[j])
        return torch.stack([o[0] for o in out]), torch.stack([o[1] for o in out])
    gen = torch.default_generator
    state = gen.get_state()
    try:
        steps = []
        for s, seed in zip(samples, seeds):
            gen.manual_seed(seed)
            steps.append(_draw(pipeline, s["image"]))
    finally:
        gen.set_state(state)
    images = torch.stack([s["image"].as_subclass(torch.Tensor) for s in samples])  # [B, C, H, W] uint8
    masks = (torch.stack([s["mask"].as_subclass(torch.Tensor) for s in samples])
             if task_type == "segmentation" else None)
    others = [{k: v for k, v in s.items() if k not in ("image", "mask", "orig_size")} for s in samples]
    n_steps = len(steps[0])
    for j in range(n_steps):
        t = steps[0][j][0]
        params = [st[j][1] for st in steps]
        if isinstance(t, v2.RandomAffine):
            grid = _affine_grids(params, images.shape[-2], images.shape[-1])
            images = _apply_grid_transform(images, grid, _check_interpolation(t.interpolation).value,
                                           _get_fill(t._fill, tv_tensors.Image))
            if masks is not None:
                masks = _apply_grid_transform(masks, grid, v2.InterpolationMode.NEAREST.value,
                                              _get_fill(t._fill, tv_tensors.Mask))
        elif isinstance(t, v2.RandomHorizontalFlip):
            flip = torch.tensor([p is not None for p in params])
            if flip.any():
                images = torch.where(flip.view(-1, 1, 1, 1), images.flip(-1), images)
                if masks is not None:
                    masks = torch.where(flip.view(-1, 1, 1, 1), masks.flip(-1), masks)
        elif isinstance(t, v2.ColorJitter):
            images = torch.stack([_color_jitter(img, p) for img, p in zip(images, params)])
        # the targets that are not pixels (boxes, keypoints), each with torchvision's own kernel
        for o, p in zip(others, params):
            if p is None or isinstance(t, v2.ColorJitter):
                continue
            for k, v in o.items():
                if isinstance(v, (tv_tensors.BoundingBoxes, tv_tensors.KeyPoints)) and t._needs_transform_list([v])[0]:
                    o[k] = t.transform(v, p)
    finished = [transforms.finish({"image": tv_tensors.Image(img), **o, **({"mask": m} if masks is not None else {})},
                                  task_type, normalise=False)
                for img, o, m in zip(images, others, masks if masks is not None else [None] * len(images))]
    image = TF.normalize_image(TF.to_dtype_image(torch.stack([f[0] for f in finished]), torch.float32, scale=True),
                               list(transforms.IMAGENET_MEAN), list(transforms.IMAGENET_STD))
    return image.contiguous(), torch.stack([f[1] for f in finished])
