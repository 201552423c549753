"""The training loop on stand-ins: it learns, logs, checkpoints, stops loudly on NaN, and its optimiser is as set."""
from __future__ import annotations

import csv
from collections import Counter

import pytest
import torch

from m2dino.config import load
from m2dino.train import checkpoint
from m2dino.train.loop import NonFiniteLossError, fit
from m2dino.optim import build_optimizer, build_scheduler, param_groups
from torch.utils.data import Dataset

from m2dino.data.build import build_loader
from m2dino.data.sampling import epoch_plan, item_seed
from train_standins import TASKS, TinyModel, tiny_data


class Augmented(Dataset):
    """A stand-in whose items draw from torch's global RNG, as torchvision's random transforms do."""

    def __init__(self, base: Dataset) -> None:
        self.base = base

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int) -> dict:
        item = dict(self.base[i])
        item["image"] = item["image"] + 0.5 * torch.randn_like(item["image"])
        return item


def _cfg(tmp_path, *extra):
    return load(["profile=smoke", f"results_dir={tmp_path}", "train.batch_size=4", "train.lr=3e-3",
                 "train.warmup_frac=0.1", *extra])


def test_loop_learns_and_writes_logs_and_checkpoints(tmp_path):
    cfg = _cfg(tmp_path, "train.epochs=3")
    torch.manual_seed(0)
    train, val, _ = tiny_data(cfg, TASKS)
    model = TinyModel(TASKS)
    res = fit(model, train, val, cfg, tmp_path, torch.device("cpu"), progress=False)
    assert res.finished and res.epochs_done == 3
    rows = list(csv.DictReader(open(tmp_path / "train_log.csv")))
    assert list(rows[0]) == ["step", "epoch", "task", "loss", "aux_loss", "lr"]
    # fixed exposure: each task 12 samples / batch 4 = 3 batches per epoch
    assert len(rows) == res.steps == 3 * 3 * len(TASKS)
    assert {r["task"] for r in rows} == set(TASKS)
    first = {t: float(next(r["loss"] for r in rows if r["task"] == t)) for t in TASKS}
    last = {t: float([r["loss"] for r in rows if r["task"] == t][-1]) for t in TASKS}
    assert sum(last.values()) < sum(first.values())  # it learns
    lrs = [float(r["lr"]) for r in rows]
    assert max(lrs) == pytest.approx(3e-3, rel=1e-3) and lrs[-1] < 0.2 * max(lrs)  # warmup, then cosine decay
    for name in ("last.pt", "best.pt"):
        ck = checkpoint.load(tmp_path / name)
        assert set(ck["model"]) == set(model.state_dict())
    assert checkpoint.load(tmp_path / "last.pt")["epoch"] == 3


def test_nan_loss_stops_with_task_and_step_and_keeps_last_good_checkpoint(tmp_path):
    cfg = _cfg(tmp_path, "train.epochs=2")
    train, val, _ = tiny_data(cfg, TASKS)
    torch.manual_seed(0)
    fit(TinyModel(TASKS), train, val, cfg, tmp_path, torch.device("cpu"), progress=False, stop_after_epoch=1)
    before = (tmp_path / "last.pt").read_bytes()
    steps_per_epoch = 3 * len(TASKS)
    model = TinyModel(TASKS, nan_at_call=5)  # resumes at epoch 1, goes NaN on its 5th training forward
    with pytest.raises(NonFiniteLossError, match=rf"on task '\w+' at step {steps_per_epoch + 4} \(epoch 2\)"):
        fit(model, train, val, cfg, tmp_path, torch.device("cpu"), progress=False)
    assert (tmp_path / "last.pt").read_bytes() == before


def test_param_groups_heads_faster_and_layer_decay():
    model = TinyModel(["breast_2cls"])
    groups = param_groups(model, lr=1e-3, weight_decay=0.05, head_lr_mult=10.0, layer_decay=0.5)
    lr_of = {id(p): g["lr"] for g in groups for p in g["params"]}
    wd_of = {id(p): g["weight_decay"] for g in groups for p in g["params"]}
    assert lr_of[id(model.heads["breast_2cls"].weight)] == pytest.approx(1e-2)
    # one block (depth 1): block 0 is layer 1, decayed once; the norm after it is layer 2, not decayed
    assert lr_of[id(model.blocks[0].weight)] == pytest.approx(0.5e-3)
    assert lr_of[id(model.norm.weight)] == pytest.approx(1e-3)
    assert wd_of[id(model.blocks[0].bias)] == 0.0 and wd_of[id(model.blocks[0].weight)] == 0.05
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))


def test_schedule_warmup_then_cosine_to_floor(tmp_path):
    cfg = _cfg(tmp_path)
    opt = build_optimizer(TinyModel(["FUGC"]), cfg.train)
    sched = build_scheduler(opt, total_steps=100, warmup_frac=0.1, min_ratio=0.01)
    f = sched.lr_lambdas[0]
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0)
    assert f(10) == pytest.approx(1.0) and f(55) == pytest.approx(0.505, abs=1e-3) and f(100) == pytest.approx(0.01)
    assert all(f(s) >= f(s + 1) for s in range(10, 100))


def test_uncertainty_weighting_learns_log_variances(tmp_path):
    cfg = _cfg(tmp_path, "train.epochs=1", "train.loss_weighting=uncertainty")
    train, val, _ = tiny_data(cfg, TASKS[:2])
    fit(TinyModel(TASKS[:2]), train, val, cfg, tmp_path, torch.device("cpu"), progress=False)
    log_var = checkpoint.load(tmp_path / "last.pt")["weighting"]["log_var"]
    assert log_var.shape == (2,) and (log_var != 0).all()


def test_moe_expert_biases_get_no_weight_decay_like_dense_biases():
    from m2dino.model import build_model

    model = build_model(load(["profile=smoke", "model.weights=null"]), ["lung"])
    names = {id(p): n for n, p in model.named_parameters()}
    decayed = {names[id(p)] for g in param_groups(model, 1e-3, 0.05, 10.0, 1.0) if g["weight_decay"] > 0
               for p in g["params"]}
    assert any(".mlp." in n for n in decayed)  # expert weight matrices still decay
    assert not [n for n in decayed if n.endswith((".b_in", ".b_out", ".bias"))]


def test_the_loader_yields_the_plan_with_per_image_augmentation_in_any_worker(tmp_path):
    cfg = _cfg(tmp_path, "runtime.num_workers=2")
    train = {t: Augmented(d) for t, d in tiny_data(cfg, TASKS)[0].items()}
    loader = build_loader(cfg, train, train=True)
    loader.batch_sampler.set_epoch(1)
    plan = epoch_plan({t: len(d) for t, d in train.items()}, 4, str(cfg.train.sampler), float(cfg.train.temperature),
                      int(cfg.seed), 1)
    state = torch.get_rng_state()
    batches = list(loader)
    assert torch.equal(torch.get_rng_state(), state)  # the loader leaves the caller's RNG (dropout) alone
    assert [(b["task_id"], [m["index"] for m in b["meta"]]) for b in batches] == plan
    for b, (t, idx) in zip(batches, plan):  # each image augmented under its own (seed, epoch, task, index) seed
        for img, i in zip(b["image"], idx):
            torch.manual_seed(item_seed(int(cfg.seed), 1, t, i))
            assert torch.equal(img, train[t][i]["image"])


def test_training_is_byte_identical_with_and_without_loader_workers(tmp_path):
    out = {}
    for workers in (0, 2):
        d = tmp_path / f"w{workers}"
        d.mkdir()
        cfg = _cfg(d, "train.epochs=2", f"runtime.num_workers={workers}")
        train, val, _ = tiny_data(cfg, TASKS)
        torch.manual_seed(0)
        fit(TinyModel(TASKS), {t: Augmented(ds) for t, ds in train.items()}, val, cfg, d, torch.device("cpu"),
            progress=False)  # dropout draws from the global RNG between the loader's items
        out[workers] = checkpoint.load(d / "last.pt")["model"], (d / "train_log.csv").read_bytes()
    assert out[0][1] == out[2][1]
    for k, v in out[0][0].items():
        assert torch.equal(v, out[2][0][k]), k


def test_step_floor_is_per_task_alone_and_in_a_shared_unit(tmp_path):
    """train.min_steps: a task makes enough passes per epoch to reach the floor with steps of its own, and gets the
    same number whether it trains alone or in a four-task unit (the same rule in every paradigm); a floor below every
    task's own steps changes nothing."""
    cfg = _cfg(tmp_path, "train.epochs=2", "train.min_steps=20", "train.eval_every=2")
    train, val, _ = tiny_data(cfg, TASKS)
    torch.manual_seed(0)
    for sub in ("one", "four", "low", "free"):
        (tmp_path / sub).mkdir()
    one = fit(TinyModel(TASKS[:1]), {TASKS[0]: train[TASKS[0]]}, {TASKS[0]: val[TASKS[0]]}, cfg, tmp_path / "one",
              torch.device("cpu"), progress=False)
    assert one.steps == 24 and one.epochs_done == 2  # 3 batches per pass, 4 passes per epoch: ceil(20 / 6) = 4
    rows = list(csv.DictReader(open(tmp_path / "one" / "train_log.csv")))
    assert [int(r["epoch"]) for r in rows].count(0) == 12
    torch.manual_seed(0)
    four = fit(TinyModel(TASKS), train, val, cfg, tmp_path / "four", torch.device("cpu"), progress=False)
    per_task = Counter(r["task"] for r in csv.DictReader(open(tmp_path / "four" / "train_log.csv")))
    assert four.steps == 96 and per_task == {t: 24 for t in TASKS}  # each task as many steps as alone
    torch.manual_seed(0)
    low = fit(TinyModel(TASKS), train, val, _cfg(tmp_path, "train.epochs=2", "train.min_steps=6",
                                                  "train.eval_every=2"), tmp_path / "low", torch.device("cpu"),
              progress=False)
    torch.manual_seed(0)
    free = fit(TinyModel(TASKS), train, val, _cfg(tmp_path, "train.epochs=2", "train.eval_every=2"),
               tmp_path / "free", torch.device("cpu"), progress=False)
    assert low.steps == free.steps == 24
    assert (tmp_path / "low" / "train_log.csv").read_text() == (tmp_path / "free" / "train_log.csv").read_text()
