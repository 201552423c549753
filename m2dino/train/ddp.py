"""DDP as a library: join the process group, wrap a model, know this rank; the batches are sharded by the sampler.

There is no separate DDP entry point: ``python -m m2dino train ...`` is the one, and under torchrun

    torchrun --nproc_per_node=4 -m m2dino train paradigm=all profile=paper seed=0

it joins the process group first (:func:`distributed`). Every rank builds the same data and model; DDP broadcasts
rank 0's weights. Each global batch (``train.batch_size`` images of one task) is split across the ranks by
:class:`m2dino.data.sampling.TaskBatchSampler` (:func:`shard`), and DDP averages their gradients, so a step equals one
step of a single process on the whole batch when the loss is a per-image mean (up to float summation order). The
global batch size and hence the schedule do not depend on the number of processes. Rank 0 writes checkpoints, logs
and metrics. Heads of tasks absent from a batch, and experts no token chose, get no gradient: hence
``find_unused_parameters``.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from m2dino.data.sampling import shard

__all__ = ["distributed", "init_distributed", "launched_by_torchrun", "rank_and_world", "shard", "wrap_ddp"]


def rank_and_world() -> tuple[int, int]:
    """(rank, world size) of this process; (0, 1) outside a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def launched_by_torchrun() -> bool:
    """Whether torchrun (or another launcher setting the env:// variables) started this process among several."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


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


@contextmanager
def distributed() -> Iterator[tuple[int, int]]:
    """Inside: the process group when launched by torchrun (left again at the end), else a single process (0, 1)."""
    if not launched_by_torchrun() or dist.is_initialized():
        yield rank_and_world()
        return
    rank, world = init_distributed()
    try:
        yield rank, world
    finally:
        dist.destroy_process_group()


def wrap_ddp(model: nn.Module, device: torch.device) -> DistributedDataParallel:
    """``model`` in DDP on this rank's device (unused parameters allowed: one task per batch, sparse experts)."""
    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids, find_unused_parameters=True)
