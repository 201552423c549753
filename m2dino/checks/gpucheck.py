"""The GPU check: what the paper profile does on a CUDA device, measured in a few minutes (``python -m m2dino gpucheck``).

At the paper shape (the profile's model: ViT-B/16 DINOv3 at 224 px with the paper's MoE and heads), in bf16 autocast
as training runs on a GPU (``train.amp``), stage by stage, most important first, within a time limit
(``bench.gpucheck.time_limit_s``; a stage that would not fit is skipped and says so):

1. ``device``: the GPU, its memory, torch and CUDA versions, bf16 support.
2. ``step_time``: a training step of M2DINO and of a dense DINOv3 with the same active parameters, and their ratio
   (``m2dino.benchmarks.moe.overhead``, at ``train.batch_size``).
3. ``memory``: peak memory of a training step of the AU model on the heaviest task (5-class segmentation) per batch
   size, doubling until the GPU runs out of memory, and the largest batch that fitted.
4. ``au_loss``: the all-task (AU) model, optimiser and losses of the trainer, a few rounds of steps over one fixed
   real batch per task (made-up data in the release's layout): the mean loss over the 27 tasks must go down.
5. ``train_command``: ``python -m m2dino train`` of one task-specific unit on the GPU, end to end (data, weights in
   Meta's format, training, checkpoints, final scoring): the real command path.
6. ``ddp``: with two or more GPUs, ``torchrun --nproc_per_node=<GPUs> -m m2dino train`` of one unit (NCCL).

Writes ``results/gpucheck.json`` after every stage (a stopped check keeps what it measured) and prints a summary.
Weights: ``model.weights`` if set (e.g. Meta's real file), else a random-valued file in Meta's format.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from m2dino.checks.meta_weights import write_meta_checkpoint
from m2dino.checks.release_data import write_release
from m2dino.paths import REPO, RESULTS
from m2dino.registry import task_ids

HEAVIEST = "fetal_abdomen_multi"  # 5-class segmentation: the largest head and loss
UNIT = "breast_2cls"  # the unit the command stages train


class NoGPU(RuntimeError):
    """gpucheck needs a CUDA device."""


class Budget:
    """Seconds left of the time limit; ``clock`` is injectable for tests."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock, self.end = clock, clock() + float(seconds)

    def left(self) -> float:
        return self.end - self.clock()

    def allows(self, seconds: float) -> bool:
        return self.left() >= seconds


def require_cuda() -> None:
    """Raise :class:`NoGPU` with what torch sees, unless a CUDA device is available."""
    if not torch.cuda.is_available():
        built = torch.version.cuda or "none (a CPU-only build)"
        raise NoGPU(f"no CUDA device: torch.cuda.is_available() is False (torch {torch.__version__}, CUDA {built}). "
                    f"gpucheck measures the paper profile on a GPU and has nothing to measure on a CPU; there, "
                    f"python -m m2dino rehearse profile=paper runs the same code path at full size.")


def is_oom(e: BaseException) -> bool:
    return isinstance(e, torch.cuda.OutOfMemoryError) or "out of memory" in str(e).lower()


def largest_fitting(try_batch: Callable[[int], dict], start: int, cap: int, budget: Budget,
                    per_try_s: float) -> tuple[list[dict], int | None]:
    """Call ``try_batch(b)`` for b = start, 2*start, ... up to ``cap`` until it runs out of memory or time; the rows
    (one per batch tried, an out-of-memory one marked) and the largest batch that fitted (None: not even ``start``)."""
    rows, best, b = [], None, int(start)
    while b <= cap and budget.allows(per_try_s):
        try:
            rows.append({"batch": b, **try_batch(b)})
            best = b
        except Exception as e:  # noqa: BLE001 - only running out of memory ends the search quietly
            if not is_oom(e):
                raise
            rows.append({"batch": b, "out_of_memory": True})
            break
        b *= 2
    return rows, best


# ---------------------------------------------------------------------------------------------------- the stages
def stage_device(ctx: dict) -> dict:
    dev = ctx["device"]
    if dev.type != "cuda":
        return {"device": str(dev), "torch": torch.__version__}
    p = torch.cuda.get_device_properties(dev)
    return {"name": p.name, "memory_GiB": round(p.total_memory / 2**30, 1), "capability": f"{p.major}.{p.minor}",
            "count": torch.cuda.device_count(), "bf16": torch.cuda.is_bf16_supported(), "torch": torch.__version__,
            "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version()}


def stage_step_time(ctx: dict) -> dict:
    from m2dino.benchmarks.moe import overhead

    cfg, g = ctx["cfg"], ctx["settings"]
    shape = {"arch": str(cfg.model.arch), "img_size": int(cfg.model.img_size),
             "overrides": OmegaConf.to_container(cfg.model.overrides, resolve=True)}
    res = overhead(cfg, shape, int(cfg.train.batch_size), ctx["device"], amp=ctx["amp"], reps=int(g.reps))
    return {k: res[k] for k in ("batch", "img_size", "arch", "step_s_moe", "step_s_dense", "overhead",
                                "params_moe_total_M", "params_dense_M")}


def _model_cfg(cfg: DictConfig, weights: Path) -> DictConfig:
    c = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    c.model.weights = str(weights)
    return c


def fixed_batches(cfg: DictConfig, tasks: list[str], batch: int) -> dict[str, dict]:
    """One real training batch per task (decoded, augmented, collated by the trainer's own loader)."""
    from m2dino.data.build import build_datasets, build_loader

    sets = build_datasets(cfg, tasks, "train")
    out = {}
    for t, ds in sets.items():
        loader = build_loader(cfg, {t: ds}, train=True, batch_size=batch)
        loader.batch_sampler.set_epoch(0)
        out[t] = next(iter(loader))
    return out


def _to(batch: dict, device: torch.device, n: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Images and targets on ``device``, tiled to ``n`` items when given."""
    x, y = batch["image"], batch["target"]
    if n is not None:
        reps = -(-n // x.shape[0])
        x, y = x.repeat(reps, *[1] * (x.ndim - 1))[:n], y.repeat(reps, *[1] * (y.ndim - 1))[:n]
    return x.to(device), y.to(device)


def au_loss(cfg: DictConfig, device: torch.device, amp: bool, rounds: int, batch: int, budget: Budget) -> dict:
    """Rounds of one optimiser step per task on a fixed batch each (the trainer's model, optimiser and losses);
    the mean task loss over all tasks before the first and after each round."""
    from m2dino.model import build_model
    from m2dino.optim import build_optimizer

    tasks = task_ids()
    torch.manual_seed(0)
    data = fixed_batches(cfg, tasks, 2)  # tiled to ``batch`` items
    model = build_model(cfg, tasks).to(device).train()
    opt = build_optimizer(model, cfg.train)

    def loss_of(t: str) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = _to(data[t], device, batch)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            out = model(x, t)
            return model.task_loss(out["out"], y, t).float(), out["aux_loss"]

    def mean_loss() -> float:
        with torch.no_grad():
            return sum(float(loss_of(t)[0]) for t in tasks) / len(tasks)

    curve, steps, t0 = [round(mean_loss(), 4)], 0, time.perf_counter()
    for _ in range(int(rounds)):
        if not budget.allows(10):
            break
        for t in tasks:
            loss, aux = loss_of(t)
            opt.zero_grad(set_to_none=True)
            (loss + aux.float()).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), float(cfg.train.grad_clip))
            opt.step()
            steps += 1
        curve.append(round(mean_loss(), 4))
    if device.type == "cuda":
        torch.cuda.synchronize()
    return {"tasks": len(tasks), "batch": batch, "steps": steps, "mean_loss_per_round": curve,
            "seconds": round(time.perf_counter() - t0, 1), "loss_went_down": len(curve) > 1 and curve[-1] < curve[0]}


def memory(cfg: DictConfig, device: torch.device, amp: bool, start: int, cap: int, budget: Budget) -> dict:
    """Peak memory of one training step of the AU model on the heaviest task, per batch size; the largest that fits."""
    from m2dino.model import build_model
    from m2dino.optim import build_optimizer

    torch.manual_seed(0)
    base = fixed_batches(cfg, [HEAVIEST], 2)[HEAVIEST]
    model = build_model(cfg, task_ids()).to(device).train()
    opt = build_optimizer(model, cfg.train)

    def step(b: int) -> dict:
        x, y = _to(base, device, b)
        opt.zero_grad(set_to_none=True)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        t = time.perf_counter()
        try:
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                out = model(x, HEAVIEST)
                loss = model.task_loss(out["out"], y, HEAVIEST).float() + out["aux_loss"].float()
            loss.backward()
            opt.step()
            torch.cuda.synchronize(device)
        finally:
            del x, y
        return {"max_allocated_GiB": round(torch.cuda.max_memory_allocated(device) / 2**30, 2),
                "step_s": round(time.perf_counter() - t, 3)}

    rows, best = largest_fitting(step, start, cap, budget, per_try_s=20)
    opt.zero_grad(set_to_none=True)
    del model, opt
    torch.cuda.empty_cache()
    return {"task": HEAVIEST, "amp_bf16": amp, "per_batch": rows, "largest_batch_that_fits": best,
            "search_stopped_by": ("out of memory" if rows and rows[-1].get("out_of_memory") else
                                  "cap" if best is not None and best * 2 > cap else "time limit")}


def _train_argv(ctx: dict, results: Path, batch: int) -> list[str]:
    return ["train", f"profile={ctx['cfg'].profile.name}", f"data.root={ctx['data']}",
            f"model.weights={ctx['weights']}", f"results_dir={results}", f"profile.device={ctx['device'].type}",
            "paradigm=single", f"tasks=[{UNIT}]", "train.epochs=1", f"train.batch_size={batch}", "train.min_steps=4"]


def _command(cmd: list[str], timeout: float) -> dict:
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, cwd=REPO, env=dict(os.environ, M2DINO_HEADLESS="1"), capture_output=True, text=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"ok": False, "command": " ".join(cmd), "error": f"timed out after {timeout:.0f} s"}
    out = {"ok": p.returncode == 0, "rc": p.returncode, "seconds": round(time.perf_counter() - t0, 1),
           "command": " ".join(cmd)}
    if p.returncode != 0:
        out["output_tail"] = (p.stdout + p.stderr)[-3000:]
    return out


def stage_train_command(ctx: dict) -> dict:
    timeout = min(ctx["budget"].left() - 5, 240)
    return _command([sys.executable, "-m", "m2dino", *_train_argv(ctx, ctx["out"] / "train_command", 4)], timeout)


def _gpus(ctx: dict) -> int:
    return torch.cuda.device_count() if ctx["device"].type == "cuda" else 0


def stage_ddp(ctx: dict) -> dict:
    n = _gpus(ctx)
    timeout = min(ctx["budget"].left() - 5, 300)
    argv = _train_argv(ctx, ctx["out"] / "ddp", 4 * n)
    res = _command([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n}", "-m",
                    "m2dino", *argv], timeout)
    return {"gpus": n, "backend": "nccl", **res}


def stage_au_loss(ctx: dict) -> dict:
    g = ctx["settings"]
    return au_loss(ctx["model_cfg"], ctx["device"], ctx["amp"], int(g.au_rounds), int(g.au_batch), ctx["budget"])


def stage_memory(ctx: dict) -> dict:
    g = ctx["settings"]
    return memory(ctx["model_cfg"], ctx["device"], ctx["amp"], int(g.memory_start), int(g.memory_cap), ctx["budget"])


STAGES: dict[str, tuple[Callable[[dict], dict], float]] = {  # name -> (stage, seconds it needs at least), in order
    "device": (stage_device, 0), "step_time": (stage_step_time, 30), "memory": (stage_memory, 40),
    "au_loss": (stage_au_loss, 40), "train_command": (stage_train_command, 60), "ddp": (stage_ddp, 90)}


def not_applicable(name: str, ctx: dict) -> str | None:
    """Why a stage cannot run on this machine at all (checked before the time it needs)."""
    if name == "memory" and ctx["device"].type != "cuda":
        return "CUDA memory statistics need a GPU"
    if name == "ddp" and _gpus(ctx) < 2:
        return f"{_gpus(ctx)} GPU(s): DDP needs two or more"
    return None


def run_checks(cfg: DictConfig, device: torch.device, budget: Budget, out_json: Path,
               stages: list[str] | None = None, image_scale: float = 1.0) -> dict:
    """Run ``stages`` (all, in order, by default) within ``budget``; write ``out_json`` after each; the report.
    ``image_scale`` shrinks the made-up images (tests; the check decodes the release's sizes)."""
    g = cfg.bench.gpucheck
    out = out_json.parent / "gpucheck"
    out.mkdir(parents=True, exist_ok=True)
    m = cfg.model
    real = m.weights and not str(m.weights).startswith("pretrained:")  # a file, e.g. Meta's own
    weights = Path(str(m.weights)) if real else write_meta_checkpoint(
        out / f"dinov3_{m.arch}_random_meta_format.pth", str(m.arch), int(m.img_size),
        OmegaConf.to_container(m.overrides, resolve=True))[0]
    data = write_release(out / "FMC_UIA", {"train": 2, "val": 1, "test": 1}, scale=image_scale)
    data_cfg = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    data_cfg.data.root, data_cfg.runtime.num_workers = str(data), 0
    ctx = {"cfg": cfg, "settings": g, "device": device, "amp": bool(cfg.train.amp), "budget": budget, "out": out,
           "data": data, "weights": weights, "model_cfg": _model_cfg(data_cfg, weights)}
    report: dict = {"date": _dt.datetime.now().isoformat(timespec="seconds"), "profile": cfg.profile.name,
                    "arch": str(m.arch), "img_size": int(m.img_size), "amp_bf16": ctx["amp"],
                    "weights": str(m.weights) if real else "random, Meta's format",
                    "time_limit_s": float(g.time_limit_s), "stages": {}}
    for name in stages or list(STAGES):
        fn, need = STAGES[name]
        if why := not_applicable(name, ctx):
            report["stages"][name] = {"skipped": why}
        elif not budget.allows(need):
            report["stages"][name] = {"skipped": f"time limit: {budget.left():.0f} s left, the stage needs {need} s"}
        else:
            t0 = time.perf_counter()
            try:
                report["stages"][name] = fn(ctx)
            except Exception as e:  # noqa: BLE001 - a failed stage is reported and the next one runs
                report["stages"][name] = {"error": f"{type(e).__name__}: {e}"[:2000]}
            report["stages"][name].setdefault("stage_s", round(time.perf_counter() - t0, 1))
        out_json.write_text(json.dumps(report, indent=1) + "\n")
        print(f"== {name}: {json.dumps(report['stages'][name])[:600]}", flush=True)
    return report


def failed(report: dict) -> list[str]:
    """The stages that failed: an error, a command that did not succeed, or an AU loss that did not go down."""
    bad = []
    for name, r in report["stages"].items():
        if "error" in r or r.get("ok") is False or r.get("loss_went_down") is False:
            bad.append(name)
    return bad


def summary(report: dict) -> str:
    s = report["stages"]
    lines = [f"gpucheck of profile {report['profile']} ({report['arch']}, {report['img_size']} px, bf16 autocast "
             f"{report['amp_bf16']}, weights: {report['weights']})"]
    d = s.get("device", {})
    if "name" in d:
        lines.append(f"  device: {d['count']} x {d['name']}, {d['memory_GiB']} GiB, bf16 {d['bf16']}, torch "
                     f"{d['torch']}, CUDA {d['cuda']}")
    for name in list(STAGES)[1:]:
        r = s.get(name)
        if r is None:
            continue
        if "skipped" in r or "error" in r:
            lines.append(f"  {name}: {r.get('skipped') or 'ERROR ' + r['error'][:300]}")
        elif name == "step_time":
            lines.append(f"  step time at batch {r['batch']}: MoE {r['step_s_moe']} s, dense {r['step_s_dense']} s, "
                         f"ratio {r['overhead']}")
        elif name == "au_loss":
            lines.append(f"  AU, {r['steps']} steps on fixed batches of {r['batch']}: mean loss "
                         f"{r['mean_loss_per_round'][0]} -> {r['mean_loss_per_round'][-1]} "
                         f"({'down' if r['loss_went_down'] else 'NOT down'})")
        elif name == "memory":
            per = ", ".join(f"{x['batch']}: " + ("OOM" if x.get("out_of_memory") else f"{x['max_allocated_GiB']} GiB")
                            for x in r["per_batch"])
            lines.append(f"  memory per batch ({r['task']}): {per}; largest that fits {r['largest_batch_that_fits']} "
                         f"(search stopped by {r['search_stopped_by']})")
        else:
            lines.append(f"  {name}: {'ok' if r.get('ok') else 'FAILED'} in {r.get('seconds')} s")
    return "\n".join(lines)


def default_out(cfg: DictConfig) -> Path:
    return (Path(cfg.results_dir) if cfg.results_dir else RESULTS) / "gpucheck.json"

