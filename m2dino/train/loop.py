"""The training loop, top to bottom: data -> forward -> loss -> backward -> clip -> step -> log; then val and checkpoint.

One loop serves every paradigm: a unit is a model and the training sets of its tasks. Each epoch gives every task a
fixed exposure (``m2dino.data.sampling``: each training sample once, in single-task batches), so the paradigms differ
only in aggregation. The batches come from the DataLoader of ``m2dino.data.build.build_loader`` (``runtime.num_workers``
processes; the same batches whatever their number), which under DDP hands each rank its share of every batch.
After each evaluated epoch the model is scored on val and the best one (mean headroom score over its tasks, against
the trivial predictor fitted on the training split) is kept. ``train.min_steps`` floors each task's own optimiser
steps, the same in every paradigm (``m2dino.data.sampling.task_repeats``).
``last.pt`` is written at the end of every epoch, so a killed run resumes from there and ends exactly as an
uninterrupted one would (on CPU).
"""
from __future__ import annotations

import csv
import os
import warnings
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import Dataset
from m2dino.progress import tqdm  # widgets in JupyterLab, one summary line under papermill

from m2dino.metrics.classification import UndefinedAUCWarning
from m2dino.train import affinity, checkpoint
from m2dino.data.build import build_loader
from m2dino.train.ddp import rank_and_world
from m2dino.train.evaluation import eval_batch_size, evaluate, selection_score, trivial_scores
from m2dino.optim import build_optimizer, build_scheduler
from m2dino.train.weighting import LossWeighting

LOG_FIELDS = ["step", "epoch", "task", "loss", "aux_loss", "lr"]
VAL_FIELDS = ["epoch", "step", "task", "metric", "value", "score"]


class NonFiniteLossError(RuntimeError):
    """The loss or the gradient norm became NaN or inf; the last good checkpoint is left as it was."""


@dataclass
class FitResult:
    """What :func:`fit` leaves behind (besides the files in the run folder)."""

    finished: bool  # False when stopped early by ``stop_after_epoch``
    epochs_done: int
    steps: int
    best_epoch: int
    best_score: float


def progress_enabled(progress: bool) -> bool:
    """Progress bars are shown when asked for, and never under pytest."""
    return progress and "PYTEST_CURRENT_TEST" not in os.environ


def _read_rows(path: Path, keep_before_epoch: int) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return [r for r in csv.DictReader(f) if int(r["epoch"]) < keep_before_epoch]


def _write_rows(path: Path, fields: list[str], rows: list[dict]) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, path)


def val_rows(epoch: int, step: int, results: Mapping[str, tuple[dict, object]], score: float) -> list[dict]:
    """The ``val_log.csv`` rows of one validation: every task's summary metrics, with the selection score."""
    return [{"epoch": epoch, "step": step, "task": t, "metric": k, "value": f"{v:.6g}", "score": f"{score:.6g}"}
            for t, (summary, _) in results.items() for k, v in summary.items()]


def save_best(run_dir: Path, model_state: Mapping[str, torch.Tensor], epoch: int, score: float) -> None:
    """``best.pt``: the model of the best validation so far."""
    checkpoint.save(Path(run_dir) / "best.pt", {"model": model_state, "epoch": epoch, "score": score})


def save_epoch(run_dir: Path, state: dict, log: list[dict], val_log: list[dict]) -> None:
    """End of an epoch: ``last.pt`` (everything a resume needs), ``train_log.csv`` and ``val_log.csv``."""
    run_dir = Path(run_dir)
    checkpoint.save(run_dir / "last.pt", state)
    _write_rows(run_dir / "train_log.csv", LOG_FIELDS, log)
    _write_rows(run_dir / "val_log.csv", VAL_FIELDS, val_log)


def fit(model: nn.Module, train_sets: Mapping[str, Dataset], val_sets: Mapping[str, Dataset], cfg,
        run_dir: Path, device: torch.device, desc: str = "", progress: bool = True,
        stop_after_epoch: int | None = None) -> FitResult:
    """Train ``model`` on ``train_sets`` (task id -> dataset) with the optimisation in ``cfg.train``.

    ``model`` may be wrapped in DistributedDataParallel: each rank then takes its share of every global batch.
    Writes ``train_log.csv``, ``val_log.csv``, ``last.pt`` and ``best.pt`` into ``run_dir``; resumes from ``last.pt``
    if present. ``stop_after_epoch`` stops (as a kill would) after that many epochs, for tests.

    Raises:
        NonFiniteLossError: a NaN/inf loss or gradient; names the task and step, leaves ``last.pt`` untouched.
    """
    tcfg = cfg.train
    run_dir = Path(run_dir)
    rank, world = rank_and_world()
    core = model.module if hasattr(model, "module") else model  # the model itself, without a DDP wrapper
    amp = bool(tcfg.amp) and device.type == "cuda"
    tasks = list(train_sets)

    # ---- optimiser, schedule, loss weighting: identical in every paradigm ----
    weighting = LossWeighting(tasks, tcfg.loss_weighting).to(device)
    extra = [weighting.log_var] if weighting.mode == "uncertainty" else None
    opt = build_optimizer(core, tcfg, extra)
    loader = build_loader(cfg, train_sets, train=True, rank=rank, world=world)
    steps_per_epoch = len(loader.batch_sampler)  # the same in every epoch and on every rank (train.min_steps included)
    # model selection scores val against the trivial predictor fitted on the training split (headroom score)
    trivial_val = {t: trivial_scores(t, train_sets[t], ds) for t, ds in val_sets.items()}
    sched = build_scheduler(opt, steps_per_epoch * tcfg.epochs, tcfg.warmup_frac, tcfg.min_lr / tcfg.lr)
    params = [p for g in opt.param_groups for p in g["params"]]

    # ---- resume from the last good checkpoint, if any ----
    start_epoch, step, best_score, best_epoch = 0, 0, float("-inf"), -1
    last = run_dir / "last.pt"
    if last.exists():
        ck = checkpoint.load(last, device)
        core.load_state_dict(ck["model"])
        weighting.load_state_dict(ck["weighting"])
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        checkpoint.set_rng_state(ck["rng"])
        start_epoch, step, best_score, best_epoch = ck["epoch"], ck["step"], ck["best_score"], ck["best_epoch"]
    log = _read_rows(run_dir / "train_log.csv", start_epoch)
    val_log = _read_rows(run_dir / "val_log.csv", start_epoch)
    # task affinity (train.affinity, off by default): measured on rank 0, leaves the run exactly as it was
    aff = affinity.monitor(cfg, core, train_sets, run_dir, device, step, amp) if rank == 0 else None

    for epoch in range(start_epoch, tcfg.epochs):
        model.train()
        loader.batch_sampler.set_epoch(epoch)
        bar = tqdm(loader, total=steps_per_epoch, desc=f"{desc} epoch {epoch + 1}/{tcfg.epochs}", leave=False,
                   disable=not progress_enabled(progress) or rank != 0)
        for batch in bar:
            if aff is not None:
                aff(step)
            # data: this rank's share of one task's batch, and the loss factor that keeps DDP's mean exact
            task, share = batch["task_id"], batch["share"]
            images, target = batch["image"].to(device), batch["target"].to(device)
            # forward and loss (the task loss lives with the model; MoE balancing/z-losses come back as aux_loss)
            with torch.autocast(device.type, dtype=torch.bfloat16) if amp else nullcontext():
                out = model(images, task)
                task_loss = core.task_loss(out["out"], target, task).float()
                aux = torch.as_tensor(out["aux_loss"], device=device).float()
            loss = weighting(task_loss, task) + aux
            if not torch.isfinite(loss):
                raise NonFiniteLossError(f"{desc}: non-finite loss {loss.item()} on task {task!r} at step {step} "
                                         f"(epoch {epoch + 1}); stopped, {last} left as it was")
            # backward, clip, step
            opt.zero_grad(set_to_none=True)
            (loss * share).backward()
            if world > 1 and weighting.mode == "uncertainty":  # not inside DDP: average its gradient by hand
                dist.all_reduce(weighting.log_var.grad)
                weighting.log_var.grad /= world
            norm = torch.nn.utils.clip_grad_norm_(params, tcfg.grad_clip)
            if not torch.isfinite(norm):
                raise NonFiniteLossError(f"{desc}: non-finite gradient norm on task {task!r} at step {step} "
                                         f"(epoch {epoch + 1}); stopped, {last} left as it was")
            lr = tcfg.lr * sched.lr_lambdas[0](sched.last_epoch)
            opt.step()
            sched.step()
            # log
            log.append({"step": step, "epoch": epoch, "task": task, "loss": f"{task_loss.item():.6g}",
                        "aux_loss": f"{aux.item():.6g}", "lr": f"{lr:.6g}"})
            bar.set_postfix(task=task, loss=f"{task_loss.item():.3f}", refresh=False)
            step += 1

        # ---- validate, keep the best model, checkpoint ----
        done = epoch + 1
        if done % tcfg.eval_every == 0 or done == tcfg.epochs:
            with warnings.catch_warnings():  # small val sets often lack a class; the test metrics still warn
                warnings.simplefilter("ignore", UndefinedAUCWarning)
                results = evaluate(core, val_sets, device, batch_size=eval_batch_size(tcfg), amp=amp)
            score = selection_score(results, trivial_val)
            val_log += val_rows(epoch, step, results, score)
            if score > best_score or best_epoch < 0:  # a NaN score still leaves a best.pt behind
                best_score, best_epoch = score, epoch
                if rank == 0:
                    save_best(run_dir, core.state_dict(), epoch, score)
        if rank == 0:
            save_epoch(run_dir, {"model": core.state_dict(), "weighting": weighting.state_dict(),
                                 "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                                 "rng": checkpoint.rng_state(), "epoch": done, "step": step,
                                 "best_score": best_score, "best_epoch": best_epoch}, log, val_log)
        if world > 1:
            dist.barrier()
        if stop_after_epoch is not None and done >= stop_after_epoch and done < tcfg.epochs:
            return FitResult(False, done, step, best_epoch, best_score)
    if progress_enabled(progress) and rank == 0:  # one line per unit; the epoch bars vanish when done
        print(f"{desc}: {tcfg.epochs} epochs, {step} steps, best val score {best_score:.3f} at epoch {best_epoch + 1}",
              flush=True)
    return FitResult(True, tcfg.epochs, step, best_epoch, best_score)
