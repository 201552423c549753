"""One run on several GPUs (or CPU processes): torchrun + DistributedDataParallel, on the same loop.

    torchrun --nproc_per_node=4 -m m2dino.train.ddp paradigm=all profile=paper seed=0

Every rank builds the same data and model; DDP broadcasts rank 0's weights. Each global batch (``train.batch_size``
images of one task) is split across the ranks, and DDP averages their gradients, so a step equals one step of a
single process on the whole batch when the loss is a per-image mean (up to float summation order). The global batch
size and hence the schedule do not depend on the number of processes. Rank 0 writes checkpoints, logs and metrics.
Heads of tasks absent from a batch, and experts no token chose, get no gradient: hence ``find_unused_parameters``.
"""
from __future__ import annotations

import os
import sys

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel


def init_distributed(backend: str | None = None, init_method: str = "env://", rank: int | None = None,
                     world_size: int | None = None) -> tuple[int, int]:
    """Join the process group (torchrun sets the env variables); NCCL on GPUs, gloo on CPU. Returns (rank, world)."""
    if not dist.is_initialized():
        backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
        kw = {} if rank is None else {"rank": rank, "world_size": world_size}
        dist.init_process_group(backend, init_method=init_method, **kw)
        if torch.cuda.is_available() and "LOCAL_RANK" in os.environ:
            torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    return dist.get_rank(), dist.get_world_size()


def wrap_ddp(model: nn.Module, device: torch.device) -> DistributedDataParallel:
    """``model`` in DDP on this rank's device (unused parameters allowed: one task per batch, sparse experts)."""
    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids, find_unused_parameters=True)


def main(argv: list[str]) -> int:
    """Train every unit of ``cfg.paradigm`` (restricted by the overrides) across the torchrun processes."""
    from m2dino.config import load
    from m2dino.train.paradigms import run_paradigm

    rank, world = init_distributed()
    try:
        cfg = load(argv)
        paths = run_paradigm(cfg, progress=rank == 0)
        if rank == 0:
            print(f"{len(paths)} run(s) on {world} process(es):", *paths, sep="\n  ")
    finally:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
