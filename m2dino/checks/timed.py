"""``python -m m2dino.checks.timed OUT.json VERB [overrides]``: ``python -m m2dino VERB [overrides]``, unchanged, that
also writes to OUT.json when each optimiser step ended, how many parameters the optimiser updates, and the process's
peak memory (resident set; on CUDA also the most memory torch allocated). The rehearsal times its units with it.

The step times come from PyTorch's global optimiser hook (``torch.optim.optimizer.register_optimizer_step_post_hook``),
so the trainer is not touched: the interval between two steps' ends is one whole step (next batch, forward,
backward, clipping, optimiser step, log line).
"""
from __future__ import annotations

import json
import resource
import runpy
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    import torch
    from torch.optim.optimizer import register_optimizer_step_post_hook

    out, rest = Path(argv[0]), argv[1:]
    ends: list[float] = []
    params: list[int] = []

    def hook(opt: torch.optim.Optimizer, args: tuple, kwargs: dict) -> None:
        ends.append(time.perf_counter())
        if not params:
            params.append(sum(p.numel() for g in opt.param_groups for p in g["params"]))

    handle = register_optimizer_step_post_hook(hook)
    t0 = time.perf_counter()
    argv_before, sys.argv = sys.argv, ["m2dino", *rest]
    try:  # exactly `python -m m2dino VERB ...` (m2dino/__main__.py), which ends in sys.exit
        runpy.run_module("m2dino", run_name="__main__", alter_sys=True)
        rc = 0
    except SystemExit as e:
        rc = e.code if isinstance(e.code, int) else int(e.code is not None)
    finally:
        sys.argv = argv_before
        handle.remove()
    info = {"argv": rest, "rc": rc, "seconds": round(time.perf_counter() - t0, 2), "step_ends": ends,
            "params": params[0] if params else None,
            "peak_rss_GiB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        info["cuda_max_allocated_GiB"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    out.write_text(json.dumps(info))
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
