"""Pairwise task affinity measured inside a multi-task run, on the shared parameters, without changing the run.

Two estimators, both over the parameters every task shares (the backbone, without the per-task embedding rows and the
heads):

- ``lookahead`` (TAG, Fifty et al., NeurIPS 2021): take one SGD step of size η on task i's gradient and see how task
  j's loss on a fixed batch moves, ``Z_{i->j} = 1 - L_j(θ - η g_i) / L_j(θ)``. Positive: a step for i helps j.
  It costs one backward per task and T² forwards.
- ``cosine``: the cosine of task i's and task j's gradients on their fixed batches (symmetric). One backward per task.

The fixed batch of each task is drawn once per run from its training set, by the run's seed, under a forked RNG (the
training augmentation is random): it is the same batch at every measurement and after a resume.

Nothing of the run changes (tested): every RNG state, the parameters (restored bitwise), the buffers (MoE usage
counts), the train/eval mode of every module and the gradients are as they were, so a run with affinity on ends with
the same metrics as with it off. The measurement runs in eval mode (no dropout, batch-norm statistics frozen).
``affinity.csv`` in the run folder holds (step, i, j, value, estimator) rows; ``affinity_cost.json`` the time spent.
"""
from __future__ import annotations

import csv
import json
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from m2dino import atomic
from m2dino.runs import AFFINITY, AFFINITY_COST, measures_affinity
from m2dino.train import checkpoint
from m2dino.data.dataset import collate_one_task

ESTIMATORS = ("lookahead", "cosine")
FIELDS = ["step", "i", "j", "value", "estimator"]
FILE, COST_FILE = AFFINITY, AFFINITY_COST  # the table, and the measurements and seconds spent on them
_BATCH_SEED = 0xAFF1  # seed namespace of the fixed affinity batches
# parameter names of per-task (not shared) parameters: the heads and the task-embedding table
NOT_SHARED = ("heads.", "task_embed")


def active(cfg) -> bool:
    """Whether ``cfg`` (a run config) measures affinity (``train.affinity``; the rule lives with the run hash, which
    leaves ``train.affinity`` out of a run that does not measure it: ``m2dino.runs.measures_affinity``)."""
    return measures_affinity(cfg)


def shared_parameters(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """The trainable parameters every task uses: all but the heads and the task-embedding table."""
    return [(n, p) for n, p in model.named_parameters()
            if p.requires_grad and not any(n.startswith(s) or f".{s}" in f".{n}" for s in NOT_SHARED)]


@contextmanager
def untouched(model: nn.Module) -> Iterator[None]:
    """Leave ``model`` and the RNGs exactly as they were: RNG states, parameters, buffers, module modes."""
    rng = checkpoint.rng_state()
    modes = {m: m.training for m in model.modules()}
    params = {n: p.detach().clone() for n, p in model.named_parameters()}
    buffers = {n: b.detach().clone() for n, b in model.named_buffers()}
    try:
        yield
    finally:
        with torch.no_grad():
            for n, p in model.named_parameters():
                p.copy_(params[n])
            for n, b in model.named_buffers():
                b.copy_(buffers[n])
        for m, flag in modes.items():
            m.training = flag
        checkpoint.set_rng_state(rng)


def _loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor], task: str, amp: bool) -> torch.Tensor:
    images, target = batch
    with torch.autocast(images.device.type, dtype=torch.bfloat16) if amp else nullcontext():
        out = model(images, task)
        return model.task_loss(out["out"], target, task).float()


def task_affinity(model: nn.Module, batches: Mapping[str, tuple[torch.Tensor, torch.Tensor]], lr: float,
                  estimators: Sequence[str] = ESTIMATORS, amp: bool = False) -> dict[str, np.ndarray]:
    """Affinity matrices ``[T, T]`` (rows i, columns j, in the order of ``batches``) per estimator.

    ``model`` obeys the model contract (``model(images, task) -> {"out": ...}``, ``model.task_loss``); ``batches`` is
    task -> (images, target), fixed. ``lr`` is the lookahead's SGD step η. The model is left untouched.
    """
    unknown = [e for e in estimators if e not in ESTIMATORS]
    if unknown:
        raise ValueError(f"unknown affinity estimators {unknown}; known: {list(ESTIMATORS)}")
    tasks = list(batches)
    out: dict[str, np.ndarray] = {}
    with untouched(model):
        model.eval()
        shared = [p for _, p in shared_parameters(model)]
        if not shared:
            raise ValueError("the model has no shared parameters to measure affinity on")
        grads = []
        for t in tasks:
            g = torch.autograd.grad(_loss(model, batches[t], t, amp), shared, allow_unused=True)
            grads.append([torch.zeros_like(p) if gi is None else gi.detach() for gi, p in zip(g, shared)])
        if "cosine" in estimators:
            gram = torch.zeros(len(tasks), len(tasks), dtype=torch.float64, device=shared[0].device)
            for k in range(len(shared)):  # parameter by parameter: no [T, all parameters] copy
                g = torch.stack([grads[i][k].reshape(-1) for i in range(len(tasks))]).double()
                gram += g @ g.T
            norm = gram.diagonal().sqrt().clamp_min(1e-30)
            out["cosine"] = (gram / (norm[:, None] * norm[None, :])).cpu().numpy()
        if "lookahead" in estimators:
            with torch.no_grad():
                base = [_loss(model, batches[t], t, amp).item() for t in tasks]
                theta = [p.detach().clone() for p in shared]
                z = np.zeros((len(tasks), len(tasks)))
                for i in range(len(tasks)):
                    for p, gi in zip(shared, grads[i]):
                        p.sub_(lr * gi)
                    for j, t in enumerate(tasks):
                        z[i, j] = 1.0 - _loss(model, batches[t], t, amp).item() / base[j] if base[j] else np.nan
                    for p, p0 in zip(shared, theta):
                        p.copy_(p0)
            out["lookahead"] = z
    return out


def fixed_batches(train_sets: Mapping[str, Dataset], tasks: Sequence[str], batch_size: int, seed: int,
                  device: torch.device) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """One batch per task, the same for a given seed whenever it is drawn; the global RNGs are left as they were."""
    state = checkpoint.rng_state()
    try:
        checkpoint.seed_everything(seed * 7919 + _BATCH_SEED)
        out = {}
        for t in tasks:
            n = len(train_sets[t])
            idx = np.random.default_rng([seed, _BATCH_SEED]).permutation(n)[:batch_size].tolist()
            b = collate_one_task([train_sets[t][i] for i in idx])
            out[t] = (b["image"].to(device), b["target"].to(device))
        return out
    finally:
        checkpoint.set_rng_state(state)


def matrix_rows(step: int, tasks: Sequence[str], mats: Mapping[str, np.ndarray]) -> list[dict]:
    """Tidy ``affinity.csv`` rows of one measurement."""
    return [{"step": step, "i": a, "j": b, "value": f"{m[ia, ib]:.8g}", "estimator": est}
            for est, m in mats.items() for ia, a in enumerate(tasks) for ib, b in enumerate(tasks)]


class AffinityMonitor:
    """Measures affinity every ``train.affinity.every`` steps of :func:`m2dino.train.loop.fit` and appends it to
    ``affinity.csv``; a resumed run drops the rows at or after the step it resumes from, then measures them again."""

    def __init__(self, cfg, model: nn.Module, train_sets: Mapping[str, Dataset], run_dir: Path,
                 device: torch.device, start_step: int = 0, amp: bool = False) -> None:
        a = cfg.train.affinity
        self.every = int(a.every)
        if self.every < 1:
            raise ValueError(f"train.affinity.every must be >= 1, got {self.every}")
        want = list(a.tasks) if a.tasks else list(train_sets)
        unknown = [t for t in want if t not in train_sets and t not in _registry_ids()]
        if unknown:
            raise ValueError(f"train.affinity.tasks: unknown task ids {unknown}")
        self.tasks = [t for t in train_sets if t in want]  # a declared subset, within this unit, in unit order
        self.estimators = list(a.estimators)
        self.lr = float(a.lr) if a.lr is not None else float(cfg.train.lr)
        self.model, self.amp = model, amp
        self.path = Path(run_dir) / FILE
        self.rows = [r for r in _read(self.path) if int(r["step"]) < start_step]
        self.seconds, self.done = 0.0, 0
        bs = int(a.batch_size) if a.batch_size else int(cfg.train.batch_size)
        self.batches = fixed_batches(train_sets, self.tasks, bs, int(cfg.seed), device) if len(self.tasks) > 1 else {}

    def __call__(self, step: int) -> None:
        """Measure at this step if it is due (every ``every`` steps, step 0 included)."""
        if len(self.tasks) < 2 or step % self.every:
            return
        t0 = time.perf_counter()
        mats = task_affinity(self.model, self.batches, self.lr, self.estimators, self.amp)
        self.rows += matrix_rows(step, self.tasks, mats)
        self.seconds += time.perf_counter() - t0
        with atomic.replacing(self.path) as tmp, open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=FIELDS)
            w.writeheader()
            w.writerows(self.rows)
        # what it cost this session (set against run.json's train_seconds; resumed runs count only their own part)
        cost = {"tasks": len(self.tasks), "estimators": self.estimators, "measurements_this_session": self.done + 1,
                "seconds_this_session": round(self.seconds, 2)}
        atomic.write_text(self.path.with_name(COST_FILE), json.dumps(cost, indent=1) + "\n")
        self.done += 1


def monitor(cfg, model: nn.Module, train_sets: Mapping[str, Dataset], run_dir: Path, device: torch.device,
            start_step: int = 0, amp: bool = False) -> AffinityMonitor | None:
    """The run's monitor when affinity is :func:`active` in ``cfg``, else None (then nothing is ever measured)."""
    return AffinityMonitor(cfg, model, train_sets, run_dir, device, start_step, amp) if active(cfg) else None


def _registry_ids() -> set[str]:
    from m2dino.registry import all_tasks

    return {t.id for t in all_tasks()}


def _read(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))
