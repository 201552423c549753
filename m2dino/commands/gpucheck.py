"""Check the paper profile on a GPU in a few minutes: ``python -m m2dino gpucheck`` (profile=paper unless given).

On a CUDA device, at the paper shape (ViT-B/16 DINOv3, 224 px, the paper's MoE and heads), in bf16 autocast: MoE and
dense step time and their ratio; peak memory per batch size and the largest batch that fits; a few AU steps whose loss
must go down; ``python -m m2dino train`` of one unit on the GPU; with two or more GPUs the DDP path (torchrun, NCCL).
Writes ``results/gpucheck.json`` after every stage and prints a summary; exits 1 when a stage failed, and refuses to run
(exit 1) without a CUDA device. ``bench.gpucheck.time_limit_s`` (default 270 s) bounds it; see m2dino/checks/gpucheck.py.
"""
from __future__ import annotations

import sys

from m2dino.config import load

HELP = "measure the paper profile on a CUDA GPU in bf16 (step times, memory per batch, AU loss, train, DDP)"


def main(argv: list[str]) -> int:
    import torch

    from m2dino.checks.gpucheck import Budget, NoGPU, default_out, failed, require_cuda, run_checks, summary

    if not any(a.split("=", 1)[0].lstrip("+~") == "profile" for a in argv):
        argv = ["profile=paper", *argv]
    cfg = load(argv)
    try:
        require_cuda()
    except NoGPU as e:
        print(f"gpucheck: {e}", file=sys.stderr)
        return 1
    out = default_out(cfg)
    out.parent.mkdir(parents=True, exist_ok=True)
    report = run_checks(cfg, torch.device("cuda"), Budget(float(cfg.bench.gpucheck.time_limit_s)), out)
    print("\n" + summary(report) + f"\nwrote {out}")
    bad = failed(report)
    if bad:
        print(f"gpucheck: FAILED stage(s): {', '.join(bad)}", file=sys.stderr)
    return 1 if bad else 0
