"""The FMC_UIA baseline (EfficientNet-B4 + FPN, smp) under the same model contract, without any download."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from m2dino.config import load
from m2dino.model import build_model


pytestmark = pytest.mark.usefixtures("one_thread")

TASKS = {"breast_lesion": (2, 2, 64, 64), "organ_cls": (2, 6), "uterine_fibroid_det": (2, 4), "FUGC": (2, 2, 2)}


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model(load(["profile=smoke", "model=fmc_baseline", "model.weights=null", "model.img_size=64"]), list(TASKS))


@pytest.mark.parametrize("task_id", list(TASKS))
def test_forward_each_type(model, task_id: str) -> None:
    res = model(torch.randn(2, 3, 64, 64), task_id)
    assert tuple(res["out"].shape) == TASKS[task_id]
    assert torch.isfinite(res["out"]).all()
    assert res["aux_loss"] == 0
    assert model.routing_counts() == {t: {} for t in TASKS}


def test_backward_and_local_encoder_weights(model, tmp_path: Path) -> None:
    res = model(torch.randn(2, 3, 64, 64), "breast_lesion")
    model.task_loss(res, torch.randint(0, 2, (2, 64, 64)), "breast_lesion").backward()
    assert model.backbone.encoder._conv_stem.weight.grad.abs().sum() > 0
    path = tmp_path / "fpn.safetensors"  # a whole smp model's state dict: only its encoder part is used
    save_file({f"encoder.{k}": v.contiguous() + 1 for k, v in model.backbone.encoder.state_dict().items()}, str(path))
    other = build_model(load(["profile=smoke", "model=fmc_baseline", f"model.weights={path}"]), ["FUGC"])
    torch.testing.assert_close(other.backbone.encoder._conv_stem.weight, model.backbone.encoder._conv_stem.weight + 1)
