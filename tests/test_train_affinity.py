"""Task affinity during a run: the lookahead's sign on toy tasks with known relations, nothing changed by measuring,
nothing spent when it is off."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from m2dino.config import load
from m2dino.train import affinity
from m2dino.train.affinity import shared_parameters, task_affinity
from m2dino.runs import run_hash
from m2dino.train.run import run_unit
from train_standins import TASKS, TinyModel, tiny_data, tiny_model


class ToyTwoTask(nn.Module):
    """Shared vector w; task t pulls w towards its own target c_t (loss ||w - c_t||²), through a per-task head."""

    def __init__(self, targets: dict[str, torch.Tensor]) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(4))
        self.targets = targets
        self.heads = nn.ModuleDict({t: nn.Linear(1, 1) for t in targets})  # per task: not shared

    def forward(self, images: torch.Tensor, task: str) -> dict:
        return {"out": self.w.expand(len(images), -1) + 0 * self.heads[task].weight.sum(), "aux_loss": 0.0}

    def task_loss(self, out: torch.Tensor, target: torch.Tensor, task: str) -> torch.Tensor:
        return F.mse_loss(out, target, reduction="sum") / len(out)


def _toy(relation: str):
    a = torch.tensor([1.0, -2.0, 0.5, 1.0])
    b = {"conflicting": -a, "aligned": 0.8 * a, "orthogonal": torch.tensor([2.0, 1.0, 0.0, 0.0])}[relation]
    model = ToyTwoTask({"A": a, "B": b})
    batches = {t: (torch.zeros(2, 1), c.expand(2, -1).clone()) for t, c in model.targets.items()}
    return model, batches


@pytest.mark.parametrize("relation,sign", [("conflicting", -1), ("aligned", 1), ("orthogonal", 0)])
def test_lookahead_and_cosine_sign_on_toy_tasks(relation, sign):
    model, batches = _toy(relation)
    before = {n: p.detach().clone() for n, p in model.state_dict().items()}
    mats = task_affinity(model, batches, lr=0.1)
    z, cos = mats["lookahead"], mats["cosine"]
    assert z.shape == cos.shape == (2, 2)
    assert z[0, 0] > 0 and z[1, 1] > 0  # a step on a task helps that task
    if sign:
        assert z[0, 1] * sign > 0.05 and z[1, 0] * sign > 0.05
        assert cos[0, 1] * sign > 0.5
    else:  # orthogonal gradients: first order zero; only the second-order cost of the step remains (small, < 0)
        assert abs(cos[0, 1]) < 1e-6 and -0.06 < z[0, 1] < 0
    # exact value of the lookahead for the quadratic: Z_{A->B} = 1 - ||w' - b||² / ||b||², w' = 2η a
    a, b = model.targets["A"], model.targets["B"]
    assert z[0, 1] == pytest.approx(1 - float(((0.2 * a - b) ** 2).sum() / (b ** 2).sum()), rel=1e-5)
    for n, p in model.state_dict().items():
        assert torch.equal(p, before[n])


def test_shared_parameters_leave_out_heads_and_task_embedding():
    names = [n for n, _ in shared_parameters(TinyModel(TASKS))]
    assert names and not any(n.startswith("heads.") for n in names)
    cfg = load(["profile=smoke", "model.weights=null"])
    from m2dino.model import build_model

    names = [n for n, _ in shared_parameters(build_model(cfg, ["FUGC", "breast_lesion"]))]
    assert any("w_in" in n for n in names) and not any("task_embed" in n or n.startswith("heads.") for n in names)


def test_measuring_leaves_model_modes_buffers_and_rng_untouched():
    torch.manual_seed(0)
    model = TinyModel(TASKS)
    model.train()
    model.heads.eval()  # a deliberately mixed state must come back as it was
    train, _, _ = tiny_data(None, TASKS)
    batches = affinity.fixed_batches(train, TASKS, 4, seed=0, device=torch.device("cpu"))
    state = {k: v.clone() for k, v in model.state_dict().items()}
    modes = {n: m.training for n, m in model.named_modules()}
    rng = torch.get_rng_state()
    task_affinity(model, batches, lr=1e-2)
    assert torch.equal(torch.get_rng_state(), rng)
    assert {n: m.training for n, m in model.named_modules()} == modes
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())
    again = affinity.fixed_batches(train, TASKS, 4, seed=0, device=torch.device("cpu"))
    assert all(torch.equal(batches[t][0], again[t][0]) for t in TASKS)  # the fixed batch is fixed


def _cfg(tmp_path, *extra, on: bool = False):
    return load(["profile=smoke", "paradigm=all", f"results_dir={tmp_path}", "train.epochs=2", "train.batch_size=4",
                 "train.lr=3e-3", "train.n_boot=50", f"train.affinity.enabled={on}", *extra])


def _run(cfg):
    return run_unit(cfg, "all", TASKS, progress=False, make_model=tiny_model, make_data=tiny_data)


def test_affinity_on_gives_the_same_run_and_writes_affinity_csv(tmp_path):
    off = _run(_cfg(tmp_path / "off"))
    on = _run(_cfg(tmp_path / "on", "train.affinity.every=5", on=True))
    for name in ("metrics.csv", "train_log.csv", "val_log.csv", "per_image.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(off / name), pd.read_csv(on / name))
    a, b = torch.load(off / "best.pt", weights_only=True), torch.load(on / "best.pt", weights_only=True)
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert not (off / "affinity.csv").exists()
    aff = pd.read_csv(on / "affinity.csv")
    assert list(aff.columns) == ["step", "i", "j", "value", "estimator"]
    steps = len(pd.read_csv(on / "train_log.csv"))
    assert sorted(aff["step"].unique()) == list(range(0, steps, 5))
    assert set(aff["estimator"]) == {"lookahead", "cosine"}
    assert len(aff) == len(aff["step"].unique()) * 2 * len(TASKS) ** 2
    assert aff["value"].notna().all()
    import json

    cost = json.loads((on / "affinity_cost.json").read_text())
    assert cost["measurements_this_session"] == len(aff["step"].unique()) and cost["seconds_this_session"] > 0


def test_affinity_off_costs_nothing(tmp_path, monkeypatch):
    """Off: no monitor, no extra forward, and the run hash is the one without the affinity keys."""
    def boom(*a, **k):
        raise AssertionError("affinity measured although it is off")

    monkeypatch.setattr(affinity, "AffinityMonitor", boom)
    monkeypatch.setattr(affinity, "task_affinity", boom)
    cfg = _cfg(tmp_path)
    models = []

    def counting_model(c, ids):
        models.append(tiny_model(c, ids))
        return models[-1]

    path = run_unit(cfg, "all", TASKS, progress=False, make_model=counting_model, make_data=tiny_data)
    steps = len(pd.read_csv(path / "train_log.csv"))
    n_val_batches = 2 * len(TASKS)  # two evaluations (val, 8 images per task, one batch each)
    n_test_batches = len(TASKS)
    assert models[0].calls == steps + n_val_batches + n_test_batches
    # a profile or experiment that switches it off, or a paradigm it does not cover, keeps the old run hash
    from m2dino.runs import run_config

    plain = run_hash(run_config(cfg, "all", TASKS))
    ts = _cfg(tmp_path, "paradigm=single", on=True)
    assert run_hash(run_config(ts, "x", TASKS[:1])) == run_hash(run_config(_cfg(tmp_path, "paradigm=single"), "x",
                                                                           TASKS[:1]))
    assert run_hash(run_config(_cfg(tmp_path, "train.affinity.every=7"), "all", TASKS)) == plain
    side = _cfg(tmp_path, "experiment=ablation_dense", on=True)
    assert run_hash(run_config(side, "all", TASKS)) == run_hash(run_config(_cfg(tmp_path, "experiment=ablation_dense"),
                                                                           "all", TASKS))
    assert run_hash(run_config(_cfg(tmp_path, on=True), "all", TASKS)) != plain


def test_real_moe_model_is_left_untouched_including_its_routing_counts():
    from m2dino.model import build_model
    from m2dino.registry import get_task

    cfg = load(["profile=smoke", "model.weights=null"])
    tasks = ["breast_lesion", "breast_2cls"]
    torch.manual_seed(0)
    model = build_model(cfg, tasks)
    model.train()
    size = int(cfg.model.img_size)
    batches = {"breast_lesion": (torch.randn(2, 3, size, size), torch.randint(0, 2, (2, size, size))),
               "breast_2cls": (torch.randn(2, 3, size, size),
                               torch.randint(0, get_task("breast_2cls").num_classes, (2,)))}
    model(batches["breast_2cls"][0], "breast_2cls")  # some routing counts to keep
    counts = {n: b.clone() for n, b in model.named_buffers()}
    state = {k: v.clone() for k, v in model.state_dict().items()}
    mats = task_affinity(model, batches, lr=1e-3)
    assert np.isfinite(mats["lookahead"]).all() and np.isfinite(mats["cosine"]).all()
    assert model.training and all(m.training for m in model.modules())
    assert all(torch.equal(b, counts[n]) for n, b in model.named_buffers())
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())


def test_a_resumed_run_writes_the_same_affinity_as_an_uninterrupted_one(tmp_path):
    full = _run(_cfg(tmp_path / "a", "train.affinity.every=5", on=True))
    cfg = _cfg(tmp_path / "b", "train.affinity.every=5", on=True)
    run_unit(cfg, "all", TASKS, progress=False, make_model=tiny_model, make_data=tiny_data, stop_after_epoch=1)
    resumed = _run(cfg)
    pd.testing.assert_frame_equal(pd.read_csv(full / "affinity.csv"), pd.read_csv(resumed / "affinity.csv"))
