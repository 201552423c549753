"""MoE overhead, utilisation and training-step memory of M2DINO (``python -m m2dino bench only=[moe]``).

1. Overhead: time of one training step (forward, backward, AdamW step) of M2DINO over a dense DINOv3 with the same
   ACTIVE parameters (in the MoE blocks, a dense MLP of hidden width ``hidden * top_k``), same batch, same head (a
   classification task, so the ratio reflects the backbone). At the profile's shape and at the paper's shape
   (ViT-B/16, 224 px; on CPU with a reduced batch, reported). The two steps alternate within one process (the order
   flips every repeat), so the machine's load affects both alike; medians are reported. Bar 1.10, goal 1.05.
2. Utilisation: training-step FLOPs (``torch.utils.flop_counter``; grouped matmuls counted with a formula registered
   here) / step time, as a fraction of a large fp32 matmul's rate measured in the same run, at the profile's shape
   and at the batch that profile trains with (``train.batch_size``). Bar 0.3, goal 0.5 at the demo shape. What limits
   it is profiled (``torch.profiler``): the share of CPU time in matrix products and the number of operator calls per
   step with their mean cost.
3. Memory of one training step at the paper shape: on CPU the peak RSS of a fresh process (before the step and at its
   peak), on CUDA ``torch.cuda.max_memory_allocated``; with CUDA also in bf16 autocast.

Settings (``bench.moe.*`` in ``m2dino/conf/config.yaml``): ``paper_batch`` (null: CPU 4, CUDA 32), ``mem_batch``
(null: CPU 8, CUDA 32), ``reps`` (timed steps per model), ``threads`` (torch CPU threads for the run; null: torch's
own). Other processes on the machine slow
and scatter these timings: the load average at the start is reported with them.
"""
from __future__ import annotations

import copy
import multiprocessing as mp
import os
import resource
import statistics
import time
from collections.abc import Callable

import torch
from omegaconf import DictConfig, OmegaConf
from timm.layers import GluMlp, Mlp, SwiGLU
from torch import nn
from torch.utils import flop_counter
from torch.utils.flop_counter import FlopCounterMode

NAME = "moe"
TASK = "organ_cls"  # a classification task: the lightest head, so the ratio is the backbone's
PAPER = {"arch": "vit_base_patch16_dinov3", "img_size": 224, "overrides": {}}


def _grouped_mm_flop(a_shape, b_shape, *args, out_shape=None, **kwargs) -> int:
    """FLOPs of ``aten._grouped_mm`` (not counted by PyTorch's flop counter)."""
    if len(a_shape) == 2 and len(b_shape) == 3:  # [M, K] x [E, K, N] -> [M, N]
        return 2 * a_shape[0] * a_shape[1] * b_shape[2]
    if len(a_shape) == 2 and len(b_shape) == 2:  # [K, M] x [M, N] grouped over M -> [E, K, N]
        return 2 * a_shape[0] * a_shape[1] * b_shape[1]
    if len(a_shape) == 3 and len(b_shape) == 2:  # [E, M, K] x [K, N] grouped over N
        return 2 * a_shape[1] * a_shape[2] * b_shape[1]
    return 2 * a_shape[0] * a_shape[1] * a_shape[2] * b_shape[2]  # batched


if hasattr(torch.ops.aten, "_grouped_mm") and torch.ops.aten._grouped_mm not in flop_counter.flop_registry:
    flop_counter.register_flop_formula(torch.ops.aten._grouped_mm)(_grouped_mm_flop)


def _model_cfg(cfg: DictConfig, shape: dict | None, moe: bool) -> DictConfig:
    c = copy.deepcopy(cfg)
    c.model.name = "m2dino"
    c.model.weights = None
    c.model.moe.enabled = moe
    if shape is not None:
        c.model.arch, c.model.img_size = shape["arch"], shape["img_size"]
        c.model.overrides = shape["overrides"]
    return c


def _widen_like_moe(dense: nn.Module, moe_model: nn.Module) -> None:
    """Give ``dense`` the MoE model's active parameters: MLPs of hidden width x top_k in the MoE blocks."""
    for i, m in moe_model.backbone.moes.items():
        blk = dense.backbone.vit.blocks[i]
        old = blk.mlp
        dim, hidden = m.w_in.shape[1], m.w_out.shape[1] * m.top_k
        if isinstance(old, SwiGLU):
            blk.mlp = SwiGLU(dim, hidden, act_layer=type(old.act))
        elif isinstance(old, GluMlp):
            blk.mlp = GluMlp(dim, 2 * hidden, act_layer=type(old.act), gate_last=old.gate_last)
        else:
            blk.mlp = Mlp(dim, hidden, act_layer=type(old.act))


def build_pair(cfg: DictConfig, shape: dict | None, device: torch.device) -> tuple[nn.Module, nn.Module]:
    """(M2DINO, dense model with the same active parameters), both on ``device``."""
    from m2dino.model import build_model

    torch.manual_seed(0)
    moe = build_model(_model_cfg(cfg, shape, True), [TASK])
    torch.manual_seed(0)
    dense = build_model(_model_cfg(cfg, shape, False), [TASK])
    _widen_like_moe(dense, moe)
    return moe.to(device).train(), dense.to(device).train()


def _stepper(model: nn.Module, x: torch.Tensor, y: torch.Tensor, amp: bool) -> Callable[[], None]:
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)  # fused: 5-20x faster step on CPU

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=amp):
            res = model(x, TASK)
            loss = model.task_loss(res, y, TASK) + res["aux_loss"]
        loss.backward()
        opt.step()
        if x.device.type == "cuda":
            torch.cuda.synchronize()

    return step


def _timed(step: Callable[[], None]) -> float:
    t = time.perf_counter()
    step()
    return time.perf_counter() - t


def _batch(n: int, size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, 3, size, size, generator=g).to(device), torch.randint(0, 6, (n,), generator=g).to(device)


def overhead(cfg: DictConfig, shape: dict | None, batch: int, device: torch.device, amp: bool = False,
             reps: int = 5, count_flops: bool = False, warmup: int = 2, limits: bool = False) -> dict:
    """Median step times of M2DINO and its dense equivalent (alternating, after warm-up), their ratio, and FLOPs."""
    moe, dense = build_pair(cfg, shape, device)
    size = int((shape or cfg.model)["img_size"])
    x, y = _batch(batch, size, device)
    steps = {"moe": _stepper(moe, x, y, amp), "dense": _stepper(dense, x, y, amp)}
    out = {"batch": batch, "img_size": size, "arch": (shape or cfg.model)["arch"]}
    if count_flops:
        for name, step in steps.items():
            with FlopCounterMode(display=False) as fc:
                step()
            out[f"flops_{name}"] = fc.get_total_flops()
    for step in steps.values():
        for _ in range(warmup):
            step()
    times = {k: [] for k in steps}
    for r in range(reps):
        for name in (("moe", "dense") if r % 2 == 0 else ("dense", "moe")):  # alternate the order too
            times[name].append(_timed(steps[name]))
    for name in steps:
        out[f"step_s_{name}"] = round(statistics.median(times[name]), 4)
    out["overhead"] = round(out["step_s_moe"] / out["step_s_dense"], 3)
    out["overhead_median_of_pairs"] = round(statistics.median(a / b for a, b in zip(times["moe"], times["dense"])), 3)
    if limits:
        for name, step in steps.items():
            out[f"limits_{name}"] = step_limits(step)
    out["params_moe_total_M"] = round(sum(p.numel() for p in moe.parameters()) / 1e6, 2)
    out["params_dense_M"] = round(sum(p.numel() for p in dense.parameters()) / 1e6, 2)
    return out


MATMUL_OPS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::_grouped_mm", "aten::matmul",
              "aten::linear", "aten::_scaled_dot_product_flash_attention_for_cpu",
              "aten::_scaled_dot_product_flash_attention_for_cpu_backward", "aten::convolution_backward",
              "aten::mkldnn_convolution")


def step_limits(step: Callable[[], None], reps: int = 3) -> dict:
    """Where a training step's CPU time goes (torch.profiler): matrix products (and attention, patch convolution) vs
    everything else, the operator calls per step and their mean self time. Profiling adds a little per call."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(reps):
            step()
    total = mat = 0.0
    calls = mat_calls = 0
    for ev in prof.key_averages():
        if not ev.key.startswith("aten::"):
            continue
        total += ev.self_cpu_time_total
        calls += ev.count
        if ev.key in MATMUL_OPS:
            mat += ev.self_cpu_time_total
            mat_calls += ev.count
    other_calls = max(calls - mat_calls, 1)
    return {"matmul_share_of_op_time": round(mat / max(total, 1e-9), 3),
            "op_calls_per_step": round(calls / reps), "matmul_calls_per_step": round(mat_calls / reps),
            "other_op_mean_self_us": round((total - mat) / other_calls, 1)}


def matmul_peak(device: torch.device, dtype: torch.dtype = torch.float32,
                clock: Callable[[], float] = time.perf_counter) -> float:
    """Best FLOP/s of a large square matmul on ``device`` (``clock``: wall time, or ``time.process_time`` to match
    step times taken in CPU time on a shared CPU)."""
    n = 2048 if device.type == "cpu" else 8192
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    best = float("inf")
    for _ in range(5):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = clock()
        a @ b
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, clock() - t)
    return 2 * n**3 / best


def _cpu_memory_child(cfg_dict: dict, batch: int, threads: int, queue: mp.Queue) -> None:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    from m2dino.model import build_model

    cfg = OmegaConf.create(cfg_dict)
    model = build_model(cfg, [TASK]).train()
    x, y = _batch(batch, int(cfg.model.img_size), torch.device("cpu"))
    step = _stepper(model, x, y, amp=False)
    before = _rss_kib("VmRSS") / 2**20  # KiB -> GiB
    reset = _reset_peak_rss()  # else the peak would be that of model construction
    step()
    peak = (_rss_kib("VmHWM") if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 2**20
    queue.put({"rss_before_step_GiB": round(before, 2), "rss_peak_GiB": round(peak, 2),
               "step_delta_GiB": round(peak - before, 2), "peak_reset": reset})


def _rss_kib(field: str) -> float:
    """A memory field of /proc/self/status in KiB (Linux)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return float(line.split()[1])
    return float("nan")


def _reset_peak_rss() -> bool:
    """Reset this process's peak RSS (VmHWM) on Linux; False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def memory_cpu(cfg: DictConfig, batch: int) -> dict:
    """Peak RSS of one paper-shape training step, measured in a fresh process (RSS peaks never go down)."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    c = OmegaConf.to_container(_model_cfg(cfg, PAPER, True), resolve=True)
    p = ctx.Process(target=_cpu_memory_child, args=(c, batch, torch.get_num_threads(), q))
    p.start()
    p.join()
    if p.exitcode != 0:
        return {"batch": batch, "error": f"child exited with {p.exitcode} (out of memory?)"}
    return {"batch": batch, **q.get()}


def memory_cuda(cfg: DictConfig, batch: int, amp: bool) -> dict:
    from m2dino.model import build_model

    device = torch.device("cuda")
    torch.cuda.empty_cache()
    torch.manual_seed(0)
    model = build_model(_model_cfg(cfg, PAPER, True), [TASK]).to(device).train()
    x, y = _batch(batch, PAPER["img_size"], device)
    step = _stepper(model, x, y, amp)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    step()
    out = {"batch": batch, "amp_bf16": amp, "allocated_before_GiB": round(before / 2**30, 2),
           "max_allocated_GiB": round(torch.cuda.max_memory_allocated() / 2**30, 2)}
    del model, step
    torch.cuda.empty_cache()
    return out


def run(cfg: DictConfig) -> dict:
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    b = cfg.bench.moe
    reps = int(b.reps)
    paper_batch = int(b.paper_batch or (32 if cuda else 4))
    mem_batch = int(b.mem_batch or (32 if cuda else 8))
    threads = b.threads
    from m2dino.threads import torch_threads

    with torch_threads(threads):
        return _run(cfg, device, reps, paper_batch, mem_batch)


def _run(cfg: DictConfig, device: torch.device, reps: int, paper_batch: int, mem_batch: int) -> dict:
    cuda = device.type == "cuda"
    res: dict = {"device": str(device), "threads": torch.get_num_threads(),
                 "load_avg_1min_at_start": round(os.getloadavg()[0], 2)}

    # the batch the profile trains with, read from its config, so utilisation is that of real training steps
    prof = overhead(cfg, None, int(cfg.train.batch_size), device, reps=reps, count_flops=True, limits=True)
    prof["batch_from"] = f"train.batch_size of profile {cfg.profile.name}"
    peak = matmul_peak(device)
    res["matmul_peak_GFLOPs"] = round(peak / 1e9, 1)
    for name in ("moe", "dense"):
        rate = prof[f"flops_{name}"] / prof[f"step_s_{name}"]
        prof[f"utilisation_{name}"] = round(rate / peak, 3)
    res[f"profile_{cfg.profile.name}"] = prof
    res["paper_shape"] = overhead(cfg, PAPER, paper_batch, device, reps=max(2, reps // 2),
                                  warmup=1)
    if cuda:
        res["paper_shape_bf16"] = overhead(cfg, PAPER, paper_batch, device, amp=True, reps=reps)
        res["matmul_peak_bf16_GFLOPs"] = round(matmul_peak(device, torch.bfloat16) / 1e9, 1)
        res["memory_paper_fp32"] = memory_cuda(cfg, mem_batch, amp=False)
        res["memory_paper_bf16"] = memory_cuda(cfg, mem_batch, amp=True)
    else:
        res["memory_paper_cpu"] = memory_cpu(cfg, mem_batch)
    res["load_avg_1min_at_end"] = round(os.getloadavg()[0], 2)
    return res
