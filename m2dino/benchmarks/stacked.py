"""Independent models trained together: step time per model against the stack size K (``only=[stacked]``).

1. Model steps: one training step (forward, loss, backward, each model's clipping and AdamW, as
   ``m2dino.train.stacked.fit_stacked`` does it) of K models of the profile's shape stacked
   (:class:`m2dino.model.stacked.StackedModel`), for K in ``bench.stacked.ks``, against the step of one model alone
   (``m2dino.train.loop.fit``'s), for a task of each type at the profile's batch (``train.batch_size``), random init.
   Reported per K: ms per step and per model, model-steps per second, the speed-up per model over the model alone,
   and the utilisation of the matmul peak counting all K models' FLOPs (K x one model's step FLOPs, counted by
   ``torch.utils.flop_counter`` with the grouped matmul registered by ``m2dino.benchmarks.moe``; the peak taken in
   CPU time too, on ``bench.stacked.threads`` threads). The variants
   alternate within one process; medians of CPU time (``time.process_time``) are reported, on
   ``bench.stacked.threads`` threads (null: torch's own).
2. A whole unit, as the demo pays it: ``bench.stacked.unit``'s TS unit for seeds 0..K-1, K in
   ``bench.stacked.unit_ks``, trained one at a time and as one stack in this process (the profile's budget and
   data, random init), wall and CPU seconds of each; with the check that both wrote the same metrics.
The load average before and after is printed: on a shared machine the ratios are those of a loaded one.
"""
from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable

import torch
from omegaconf import DictConfig
from torch.utils.flop_counter import FlopCounterMode

from m2dino.benchmarks.moe import matmul_peak  # also registers the grouped matmul's FLOP formula
from m2dino.threads import torch_threads

NAME = "stacked"
TASKS = {"segmentation": "fetal_head", "classification": "organ_cls", "detection": "thyroid_nodule_det",
         "regression": "IUGC"}


def _models(cfg: DictConfig, k: int) -> list:
    from m2dino.model import build_model

    c = cfg.copy()
    c.model.weights = None
    models = []
    for seed in range(k):
        torch.manual_seed(seed)
        models.append(build_model(c, list(TASKS.values())).train())
    return models


def _batch(task: str, k: int, b: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    from m2dino.registry import get_task

    t = get_task(task)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(k, b, 3, size, size, generator=g)
    if t.type == "segmentation":
        y = torch.randint(0, t.num_classes, (k, b, size, size), generator=g)
    elif t.type == "classification":
        y = torch.randint(0, t.num_classes, (k, b), generator=g)
    elif t.type == "detection":
        y = torch.tensor([0.2, 0.25, 0.6, 0.7]).expand(k, b, 4).contiguous()
    else:
        y = torch.rand(k, b, t.num_classes, 2, generator=g)
    return x, y


def alone_step(cfg: DictConfig, task: str) -> Callable[[], None]:
    """One model's training step as ``fit`` takes it: forward, loss, backward, clip, fused AdamW."""
    from m2dino.optim import build_optimizer

    model = _models(cfg, 1)[0]
    opt = build_optimizer(model, cfg.train)
    params = [p for g in opt.param_groups for p in g["params"]]
    x, y = _batch(task, 1, int(cfg.train.batch_size), int(cfg.model.img_size))

    def step() -> None:
        out = model(x[0], task)
        loss = model.task_loss(out["out"], y[0], task).float() + out["aux_loss"].float()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, float(cfg.train.grad_clip))
        opt.step()

    return step


def stacked_step(cfg: DictConfig, task: str, k: int) -> Callable[[], None]:
    """K models' training step as ``fit_stacked`` takes it."""
    from m2dino.model.stacked import StackedModel
    from m2dino.train.stacked import clip_per_model, member_optimizers

    model = StackedModel(_models(cfg, k))
    opts, params = member_optimizers(model.net, cfg.train, k)
    views = [[v for g in o.param_groups for v in g["params"]] for o in opts]
    x, y = _batch(task, k, int(cfg.train.batch_size), int(cfg.model.img_size))

    def step() -> None:
        out = model(x, task)
        loss = model.task_loss(out["out"], y, task).float() + out["aux_loss"].float()
        for p in params:
            p.grad = None
        loss.sum().backward()
        clip_per_model([p.grad for p in params if p.grad is not None], k, float(cfg.train.grad_clip))
        for j in range(k):
            for p, v in zip(params, views[j]):
                v.grad = None if p.grad is None else p.grad[j]
            opts[j].step()

    return step


def _cpu_ms(step: Callable[[], None]) -> float:
    t = time.process_time()
    step()
    return (time.process_time() - t) * 1e3


def model_steps(cfg: DictConfig, ks: list[int], reps: int, peak: float) -> dict:
    out = {}
    for kind, task in TASKS.items():
        steps = {"alone": alone_step(cfg, task), **{k: stacked_step(cfg, task, k) for k in ks}}
        with FlopCounterMode(display=False) as fc:
            steps["alone"]()
        flops = fc.get_total_flops()
        for s in steps.values():  # warm-up
            s()
        times: dict = {name: [] for name in steps}
        for r in range(reps):
            for name in (list(steps) if r % 2 == 0 else list(steps)[::-1]):
                times[name].append(_cpu_ms(steps[name]))
        alone = statistics.median(times["alone"])
        row: dict = {"task": task, "alone_ms": round(alone, 1), "flops_per_model_step": flops}
        for k in ks:
            ms = statistics.median(times[k])
            row[f"K{k}"] = {"step_ms": round(ms, 1), "ms_per_model": round(ms / k, 1),
                            "model_steps_per_s": round(1e3 * k / ms, 2), "speedup_per_model": round(alone * k / ms, 2),
                            "utilisation": round(k * flops / (ms / 1e3) / peak, 3)}
        row["utilisation_alone"] = round(flops / (alone / 1e3) / peak, 3)
        best = max(ks, key=lambda k: row[f"K{k}"]["model_steps_per_s"])
        row["best_K"], row["best_speedup_vs_alone"] = best, row[f"K{best}"]["speedup_per_model"]
        out[kind] = row
        print(f"  {kind}: {row}", flush=True)  # as it comes: the whole benchmark takes minutes
        del steps
    return out


def whole_unit(cfg: DictConfig, task: str, ks: list[int]) -> dict:
    """K seeds of one TS unit, one at a time and stacked, in this process (wall and CPU seconds)."""
    from m2dino.config import load
    from m2dino.data.source import ensure_data
    from m2dino.train.run import run_unit
    from m2dino.train.stacked import run_stack

    base = load([f"profile={cfg.profile.name}", "paradigm=single",
                 *([f"data.root={cfg.data.root}"] if cfg.data.root else [])])
    if not cfg.data.root:  # the profile's own synthetic data, generated on first use; a given root is used as it is
        ensure_data(base)
    out: dict = {"unit": task, "epochs": int(base.train.epochs)}
    with tempfile.TemporaryDirectory() as tmp:
        def c(seed: int, where: str) -> DictConfig:
            x = base.copy()
            x.results_dir, x.seed, x.model.weights = os.path.join(tmp, where), seed, None
            return x

        for k in ks:
            res = {}
            for where, train in (("alone", lambda: [run_unit(c(s, "alone"), task, [task], progress=False)
                                                    for s in range(k)]),
                                 ("stacked", lambda: run_stack([c(s, "stacked") for s in range(k)], task, [task],
                                                               progress=False))):
                w, t = time.perf_counter(), time.process_time()
                paths = train()
                res[f"{where}_wall_s"] = round(time.perf_counter() - w, 1)
                res[f"{where}_cpu_s"] = round(time.process_time() - t, 1)
                res[f"{where}_metrics"] = [(p / "metrics.csv").read_bytes() for p in paths]
            same = res.pop("alone_metrics") == res.pop("stacked_metrics")
            res.update(same_metrics=same, speedup_cpu=round(res["alone_cpu_s"] / res["stacked_cpu_s"], 2),
                       speedup_wall=round(res["alone_wall_s"] / res["stacked_wall_s"], 2))
            out[f"K{k}"] = res
            for where in ("alone", "stacked"):
                shutil.rmtree(os.path.join(tmp, where), ignore_errors=True)
    return out


def run(cfg: DictConfig) -> dict:
    b = cfg.bench.stacked
    with torch_threads(b.threads):
        res: dict = {"threads": torch.get_num_threads(), "load_before": [round(x, 2) for x in os.getloadavg()],
                     "batch": int(cfg.train.batch_size)}
        peak = matmul_peak(torch.device("cpu"), clock=time.process_time)  # the clock of the step times
        res["matmul_peak_GFLOPs"] = round(peak / 1e9, 1)
        res["model_steps"] = model_steps(cfg, [int(k) for k in b.ks], int(b.reps), peak)
        if b.unit_ks:
            res["whole_unit"] = whole_unit(cfg, str(b.unit), [int(k) for k in b.unit_ks])
        res["load_after"] = [round(x, 2) for x in os.getloadavg()]
    return res
