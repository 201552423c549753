"""The seeds of one unit trained together as one stacked model (:class:`m2dino.model.stacked.StackedModel`).

Each seed stays its own run: its own data order and augmentation (its own loader), its own optimiser state (one fused
AdamW per model over its slices of the stacked tensors), its own gradient clipping (each model's norm, as alone),
validation score, best epoch, ``best.pt``/``last.pt`` and run folder with exactly the files
:func:`m2dino.train.run.run_unit` writes. Per model the arithmetic is that of the model alone, so the files are those
of the run trained alone (tested: byte-identical metrics and logs): the run hash needs no stacking key, and a stacked
run and a run alone resume each other.

Which runs stack (:func:`stack_key`): the seeds of one unit with the same config but the seed, on CPU, with equal loss
weighting and no affinity measurement, whose tasks come in the same order at every step: one-task units (TS) always,
multi-task units (CG, AU) when ``train.order_seed`` is set. Their steps then see the same task and batch size, and the
same learning-rate schedule. A model whose loss or gradient becomes non-finite stops there (its folder is left as a
run alone leaves it) while the others go on; the error is raised once they are written.
"""
from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn
from torch.utils.data import Dataset

from m2dino.data.build import build_loader
from m2dino.model.stacked import StackedModel
from m2dino.progress import tqdm
from m2dino.threads import torch_threads
from m2dino.train import checkpoint
from m2dino.train.affinity import active as affinity_active
from m2dino.train.evaluation import eval_batch_size, evaluate_stacked, selection_score, trivial_scores
from m2dino.train.loop import (FitResult, NonFiniteLossError, _read_rows, progress_enabled, save_best, save_epoch,
                               val_rows)
from m2dino.optim import adamw
from m2dino.optim import build_scheduler, param_groups
from m2dino import runs
from m2dino.runs import is_done, run_config, run_dir, run_hash
from m2dino.train.run import (Splits, _run_unit, default_data, default_model, mark_done, resolve_device,
                              start_at_trivial, write_test_results)
from m2dino.train.weighting import LossWeighting


def stack_key(rc: DictConfig) -> str | None:
    """Runs (resolved run configs) with the same key can train as one stack; None: this run trains alone."""
    if rc.train.loss_weighting != "equal" or affinity_active(rc) or resolve_device(rc).type != "cpu":
        return None
    if len(rc.tasks) > 1 and rc.train.order_seed is None:  # the seeds would interleave their tasks differently
        return None
    c = OmegaConf.create(OmegaConf.to_container(rc, resolve=True))
    c.seed = 0
    return run_hash(c)


@dataclass
class Member:
    """One run of a stack: its config, folder, data, and the global RNG state its run alone would checkpoint (after
    building its model nothing draws from it: a stacked forward has no random op)."""

    rc: DictConfig
    path: Path
    train_sets: Mapping[str, Dataset]
    val_sets: Mapping[str, Dataset]
    test_sets: Mapping[str, Dataset]
    rng: dict
    log: list[dict] = field(default_factory=list)
    val_log: list[dict] = field(default_factory=list)
    best_score: float = float("-inf")
    best_epoch: int = -1
    error: str | None = None  # why it stopped (a non-finite loss or gradient); None while it trains

    @property
    def desc(self) -> str:
        return f"{self.rc.paradigm.name}/{self.rc.unit}/seed{self.rc.seed}"


def member_optimizers(net: nn.Module, train_cfg, k: int) -> tuple[list[torch.optim.AdamW], list[nn.Parameter]]:
    """One AdamW per model, over views of its slices of the stacked parameters (leaf views: the optimiser writes
    into the stacked tensors). One fused AdamW over the stacked tensors would be per element the same formula, but its
    vectorised and scalar paths round differently and a model's elements fall on other lanes than alone; over its
    own views, each model's update has the bits of its update alone, and its state dict is the one alone has.
    Also returns the stacked parameters in the optimisers' order."""
    groups = param_groups(net, train_cfg.lr, train_cfg.weight_decay, train_cfg.head_lr_mult, train_cfg.layer_decay,
                          stacked=True)
    opts = [adamw([{**g, "params": [p.detach()[j] for p in g["params"]]} for g in groups], train_cfg.lr)
            for j in range(k)]
    return opts, [p for g in groups for p in g["params"]]


def clip_per_model(grads: list[torch.Tensor], k: int, max_norm: float) -> list[torch.Tensor]:
    """``clip_grad_norm_`` of each of the K models on its own slices of the stacked gradients, with the arithmetic of
    ``torch.nn.utils.clip_grad_norm_`` (so the same bits as alone); returns each model's total norm."""
    norms = []
    for j in range(k):
        mine = [g[j] for g in grads]
        total = torch.nn.utils.get_total_norm(mine, 2.0)
        clip_coef = max_norm / (total + 1e-6)
        torch._foreach_mul_(mine, torch.clamp(clip_coef, max=1.0))
        norms.append(total)
    return norms


def fit_stacked(model: StackedModel, members: list[Member], device: torch.device, progress: bool = True,
                stop_after_epoch: int | None = None) -> list[FitResult]:
    """:func:`m2dino.train.loop.fit` for the K models of ``model``, member k on ``members[k]``'s data, writing its
    run folder as ``fit`` would. Resumes from the members' ``last.pt`` (all at the same epoch)."""
    rc0 = members[0].rc
    tcfg = rc0.train
    tasks = list(members[0].train_sets)
    net = model.net
    kk = len(members)
    weightings = [LossWeighting(tasks, tcfg.loss_weighting).to(device) for _ in members]  # equal: state only
    opts, params = member_optimizers(net, tcfg, kk)
    views = [[v for g in o.param_groups for v in g["params"]] for o in opts]
    loaders = [build_loader(m.rc, m.train_sets, train=True) for m in members]
    steps_per_epoch = len(loaders[0].batch_sampler)
    if any(len(ld.batch_sampler) != steps_per_epoch for ld in loaders):
        raise ValueError(f"{members[0].desc}: the stacked models' epochs differ in length; train them one at a time")
    trivial_val = [{t: trivial_scores(t, m.train_sets[t], ds) for t, ds in m.val_sets.items()} for m in members]
    scheds = [build_scheduler(o, steps_per_epoch * tcfg.epochs, tcfg.warmup_frac, tcfg.min_lr / tcfg.lr) for o in opts]

    start_epoch, step = 0, 0
    lasts = [m.path / "last.pt" for m in members]
    if any(p.exists() for p in lasts):
        cks = [checkpoint.load(p, device) for p in lasts]
        if len({(ck["epoch"], ck["step"]) for ck in cks}) != 1:
            raise ValueError(f"{members[0].desc}: the stacked runs stopped at different epochs; resume them apart")
        for k, (m, ck) in enumerate(zip(members, cks)):
            model.load_member_state_dict(k, ck["model"])
            weightings[k].load_state_dict(ck["weighting"])
            opts[k].load_state_dict(ck["optimizer"])
            scheds[k].load_state_dict(ck["scheduler"])
            m.rng, m.best_score, m.best_epoch = ck["rng"], ck["best_score"], ck["best_epoch"]
        start_epoch, step = cks[0]["epoch"], cks[0]["step"]
    for m in members:
        m.log = _read_rows(m.path / "train_log.csv", start_epoch)
        m.val_log = _read_rows(m.path / "val_log.csv", start_epoch)

    desc = f"{rc0.paradigm.name}/{rc0.unit}/seeds {','.join(str(m.rc.seed) for m in members)}"
    for epoch in range(start_epoch, tcfg.epochs):
        model.train()
        for ld in loaders:
            ld.batch_sampler.set_epoch(epoch)
        bar = tqdm(zip(*loaders), total=steps_per_epoch, desc=f"{desc} epoch {epoch + 1}/{tcfg.epochs}", leave=False,
                   disable=not progress_enabled(progress))
        for batches in bar:
            # data: each model's own batch, all of one task and size (their plans interleave tasks alike)
            task = batches[0]["task_id"]
            if any(b["task_id"] != task or b["image"].shape != batches[0]["image"].shape for b in batches):
                raise ValueError(f"{desc}: at step {step} the models' batches differ in task or size "
                                 f"({[b['task_id'] for b in batches]}); they cannot train stacked")
            images = torch.stack([b["image"] for b in batches]).to(device)
            target = torch.stack([b["target"] for b in batches]).to(device)
            # forward and loss, each model's own (equal weighting: the task loss as is)
            out = model(images, task)
            task_loss = model.task_loss(out["out"], target, task).float()
            aux = out["aux_loss"].float()
            loss = torch.stack([weightings[k](task_loss[k], task) for k in range(kk)]) + aux
            live = _stop_nonfinite(members, loss, "loss", task, step, epoch)
            if not len(live):
                break
            # backward, clip each model, step each model
            for p in params:
                p.grad = None
            loss[live].sum().backward()
            norms = clip_per_model([p.grad for p in params if p.grad is not None], kk, tcfg.grad_clip)
            live = _stop_nonfinite(members, torch.stack(norms), "gradient norm", task, step, epoch)
            lr = tcfg.lr * scheds[0].lr_lambdas[0](scheds[0].last_epoch)
            for k in live.tolist():  # a stopped model is neither updated nor logged
                for p, v in zip(params, views[k]):
                    v.grad = None if p.grad is None else p.grad[k]
                opts[k].step()
                scheds[k].step()
                members[k].log.append({"step": step, "epoch": epoch, "task": task,
                                       "loss": f"{task_loss[k].item():.6g}", "aux_loss": f"{aux[k].item():.6g}",
                                       "lr": f"{lr:.6g}"})
            bar.set_postfix(task=task, loss=f"{task_loss.mean().item():.3f}", refresh=False)
            step += 1
        if all(m.error for m in members):
            break

        # ---- validate each model, keep each one's best, checkpoint each ----
        done = epoch + 1
        live = [k for k, m in enumerate(members) if not m.error]
        if done % tcfg.eval_every == 0 or done == tcfg.epochs:
            results = evaluate_stacked(model, [m.val_sets for m in members], device, eval_batch_size(tcfg), live)
            for k in live:
                m = members[k]
                score = selection_score(results[k], trivial_val[k])
                m.val_log += val_rows(epoch, step, results[k], score)
                if score > m.best_score or m.best_epoch < 0:
                    m.best_score, m.best_epoch = score, epoch
                    save_best(m.path, model.member_state_dict(k), epoch, score)
        for k in live:
            m = members[k]
            save_epoch(m.path, {"model": model.member_state_dict(k), "weighting": weightings[k].state_dict(),
                                "optimizer": opts[k].state_dict(), "scheduler": scheds[k].state_dict(),
                                "rng": m.rng, "epoch": done, "step": step, "best_score": m.best_score,
                                "best_epoch": m.best_epoch}, m.log, m.val_log)
        if stop_after_epoch is not None and done >= stop_after_epoch and done < tcfg.epochs:
            return [FitResult(False, done, step, m.best_epoch, m.best_score) for m in members]
    for m in members:
        if progress_enabled(progress) and not m.error:
            print(f"{m.desc}: {tcfg.epochs} epochs, {step} steps, best val score {m.best_score:.3f} at epoch "
                  f"{m.best_epoch + 1} (stacked)", flush=True)
    return [FitResult(not m.error, tcfg.epochs, step, m.best_epoch, m.best_score) for m in members]


def _stop_nonfinite(members: list[Member], values: torch.Tensor, what: str, task: str, step: int,
                    epoch: int) -> torch.Tensor:
    """Stop every model whose ``values`` entry is not finite (as alone, its files stay at the last good epoch);
    returns the indices of the models still training."""
    finite = torch.isfinite(values)
    for k, m in enumerate(members):
        if not m.error and not bool(finite[k]):
            m.error = (f"{m.desc}: non-finite {what} on task {task!r} at step {step} (epoch {epoch + 1}); stopped, "
                       f"{m.path / 'last.pt'} left as it was")
    return torch.tensor([k for k, m in enumerate(members) if not m.error], dtype=torch.long)


def run_stack(cfgs: Sequence[DictConfig], unit: str, task_ids: list[str], progress: bool = True,
              make_model: Callable[[DictConfig, list[str]], nn.Module] = default_model,
              make_data: Callable[[DictConfig, list[str]], Splits] = default_data,
              stop_after_epoch: int | None = None) -> list[Path]:
    """Train (or reuse, or resume) ``unit`` for every config of ``cfgs`` (seeds of one :func:`stack_key`) as one
    stack; return their run folders. Runs already done are skipped; runs resumed at different epochs train as
    separate stacks; a model the stack cannot hold (not the timm DINOv3, dropout) trains each run alone."""
    rcs = [run_config(c, unit, task_ids) for c in cfgs]
    paths = [run_dir(c, unit) for c in cfgs]
    todo = [i for i in range(len(cfgs)) if not is_done(paths[i], rcs[i])]
    if not todo:
        return paths
    with torch_threads(rcs[todo[0]].train.threads):  # results depend on it: pinned by config, as alone
        by_epoch: dict[int, list[int]] = defaultdict(list)
        for i in todo:
            runs.start(paths[i], rcs[i])
            by_epoch[_resume_epoch(paths[i])].append(i)
        for group in by_epoch.values():
            _train_stack([cfgs[i] for i in group], [rcs[i] for i in group], [paths[i] for i in group], unit,
                         task_ids, progress, make_model, make_data, stop_after_epoch)
    return paths


def _resume_epoch(path: Path) -> int:
    last = path / "last.pt"
    return int(checkpoint.load(last)["epoch"]) if last.exists() else 0


def _train_stack(cfgs: list[DictConfig], rcs: list[DictConfig], paths: list[Path], unit: str, task_ids: list[str],
                 progress: bool, make_model, make_data, stop_after_epoch: int | None) -> None:
    t0 = time.perf_counter()
    device = resolve_device(rcs[0])
    members, models = [], []
    for rc, path in zip(rcs, paths):  # each model built exactly as its run alone builds it
        checkpoint.seed_everything(int(rc.seed))
        train_sets, val_sets, test_sets = make_data(rc, list(task_ids))
        model = make_model(rc, list(task_ids))
        start_at_trivial(model, train_sets)
        members.append(Member(rc, path, train_sets, val_sets, test_sets, checkpoint.rng_state()))
        models.append(model)
    try:
        stacked = StackedModel(models).to(device)
    except NotImplementedError:
        for c, rc, path in zip(cfgs, rcs, paths):
            _run_unit(c, rc, path, unit, list(task_ids), progress, make_model, make_data, stop_after_epoch)
        return
    prev = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(device.type == "cpu" or prev, warn_only=True)
    try:
        results = fit_stacked(stacked, members, device, progress, stop_after_epoch)
    finally:
        torch.use_deterministic_algorithms(prev)
    t_train = time.perf_counter() - t0
    done = [k for k, r in enumerate(results) if r.finished]
    if done:
        _finish_stacked(stacked, members, done, device)
    t_total = time.perf_counter() - t0
    info = {"size": len(members), "seeds": [int(m.rc.seed) for m in members], "train_seconds": round(t_train, 2),
            "total_seconds": round(t_total, 2)}
    for k in done:  # each run's share of the stack's time, so that the runs' seconds add up to the stack's
        mark_done(members[k].rc, members[k].path, results[k], t_train / len(members), t_total / len(members),
                  {"stack": info})
    errors = [m.error for m in members if m.error]
    if errors:
        raise NonFiniteLossError("; ".join(errors))


def _finish_stacked(stacked: StackedModel, members: list[Member], done: list[int], device: torch.device) -> None:
    """:func:`m2dino.train.run.finish` of the finished members (``done``), their test splits scored in one stacked
    pass (a stopped model's slice runs on a finished one's images, unscored)."""
    for k in done:
        stacked.load_member_state_dict(k, checkpoint.load(members[k].path / "best.pt", device)["model"])
    stacked.reset_routing_counts()
    sets = [members[k if k in done else done[0]].test_sets for k in range(len(members))]
    results = evaluate_stacked(stacked, sets, device, eval_batch_size(members[0].rc.train), done)
    for k in done:
        m = members[k]
        write_test_results(m.rc, m.path, results[k], stacked.routing_counts(k), m.train_sets, m.test_sets)
