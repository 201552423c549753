"""The three paradigms as loops over units: train (or load) every unit of ``cfg.paradigm``, then gather results.

The units come from :func:`m2dino.grouping.paradigm_units`: 27 tasks for ``single``, one per group for ``clinical``,
one for ``all``. Everything else (backbone, input size, preprocessing, optimiser, schedule, per-task exposure) is
the same config in every paradigm.

Units are independent, so ``runtime.unit_workers`` processes may train them side by side (joblib's loky pool), each
with ``train.threads`` torch threads, exactly as one process would: every unit seeds itself, writes only its own run
folder, and pins its thread count (results depend on it at float precision), so the metrics are byte-identical
whatever the number of workers (tested). With ``runtime.stack`` > 1, the seeds of a unit that can train together
(:func:`m2dino.train.stacked.stack_key`) train as one stacked model in one process, up to that many at a time; each
keeps its own run folder, with the same files as trained alone (tested). A stop signal or a failed unit ends every
worker, and a worker whose parent is gone ends itself (``m2dino.train.stopping``).
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import torch.distributed as dist
from omegaconf import DictConfig

from m2dino import runs
from m2dino.grouping import paradigm_units
from m2dino.train import stopping
from m2dino.train.ddp import rank_and_world
from m2dino.runs import is_done, run_config, run_dir
from m2dino.train.run import default_data, default_model, run_unit
from m2dino.train.stacked import run_stack, stack_key

Job = tuple[DictConfig, str, list[str]]  # (config, unit, its task ids)


def unit_workers(cfg: DictConfig) -> int:
    """``runtime.unit_workers``: processes training units side by side."""
    return max(1, int(cfg.runtime.unit_workers))


def _build_shared_backbones(cfgs: list[DictConfig]) -> None:
    """Pretrain (or find cached) the in-house backbone each config needs, in this process only: several processes
    building the same cache folder at once would race."""
    from m2dino.pretrain.store import INHOUSE, resolve_weights

    for c in cfgs:
        if c.model.weights == INHOUSE:
            resolve_weights(c)  # a no-op once the cache holds it


def run_paradigm(cfg: DictConfig, progress: bool = True, make_model=default_model,
                 make_data=default_data) -> list[Path]:
    """Train, or load from cache, every unit of ``cfg.paradigm`` for ``cfg.seed``; return the run folders."""
    return run_configs([cfg], progress=progress, make_model=make_model, make_data=make_data)


def run_configs(cfgs: Iterable[DictConfig], progress: bool = True, make_model=default_model,
                make_data=default_data) -> list[Path]:
    """Every unit of every config (e.g. one per seed), trained in ``runtime.unit_workers`` processes; the run
    folders in order. Results do not depend on the number of processes."""
    jobs = []
    for cfg in cfgs:
        units = paradigm_units(cfg)
        if not units:
            raise ValueError(f"paradigm {cfg.paradigm.name!r} has no unit left after unit={cfg.get('unit')!r}, "
                             f"tasks={cfg.get('tasks')!r}")
        jobs += [(cfg, unit, list(ids)) for unit, ids in units.items()]
    if not jobs:
        return []
    todo = [j for j in jobs if not is_done(run_dir(j[0], j[1]), run_config(*j))]
    rank, world = rank_and_world()
    if world > 1:  # DDP: rank 0 builds the shared backbone while the others wait, then all train every unit
        if rank == 0:
            _build_shared_backbones([c for c, _, _ in todo])
        dist.barrier()
        return [run_unit(c, u, ids, progress=progress, make_model=make_model, make_data=make_data)
                for c, u, ids in jobs]
    stacks = plan_stacks(todo, int(jobs[0][0].runtime.stack), min_count=unit_workers(jobs[0][0]))
    workers = min(unit_workers(jobs[0][0]), len(stacks))
    if workers <= 1:
        for stack in stacks:
            _train(stack, progress, make_model, make_data)
        return [run_dir(c, u) for c, u, _ in jobs]
    from joblib import Parallel, delayed

    _build_shared_backbones([c for c, _, _ in todo])  # once, before the workers ask for it
    threads = todo[0][0].train.threads
    with stopping.guard_pool():  # a stop signal or an error ends every worker (m2dino/train/stopping.py)
        Parallel(n_jobs=workers, backend="loky", inner_max_num_threads=int(threads) if threads else None)(
            delayed(stopping.in_worker(_train))(stack, False, make_model, make_data) for stack in stacks)
    return [run_dir(c, u) for c, u, _ in jobs]


def plan_stacks(jobs: list[Job], max_size: int, min_count: int = 1) -> list[list[Job]]:
    """The jobs in groups that train as one stacked model (the same :func:`stack_key`: the seeds of one unit), at
    most ``max_size`` each and as even as that allows; every other job alone; in the order of the jobs. At least
    ``min_count`` groups where there are that many jobs (the largest stacks are split): a process left idle costs more
    than stacking saves (a stack of 3 seeds takes ~0.9x the CPU time of its seeds one at a time)."""
    groups: dict[object, list[Job]] = {}
    for i, job in enumerate(jobs):
        key = stack_key(run_config(*job)) if max_size > 1 else None
        groups.setdefault(i if key is None else key, []).append(job)
    sizes = {k: -(-len(g) // max(1, max_size)) for k, g in groups.items()}  # stacks per group
    while sum(sizes.values()) < min(min_count, len(jobs)):
        k = max(groups, key=lambda k: len(groups[k]) / sizes[k])  # the group whose stacks are largest
        sizes[k] += 1
    out = []
    for k, group in groups.items():
        size, extra = divmod(len(group), sizes[k])
        start = 0
        for j in range(sizes[k]):
            end = start + size + (j < extra)
            out.append(group[start:end])
            start = end
    return out


def _train(stack: list[Job], progress: bool, make_model, make_data) -> None:
    """Train one job alone, or several seeds of one unit as one stack."""
    if len(stack) == 1:
        c, u, ids = stack[0]
        run_unit(c, u, ids, progress=progress, make_model=make_model, make_data=make_data)
    else:
        run_stack([c for c, _, _ in stack], stack[0][1], stack[0][2], progress=progress, make_model=make_model,
                  make_data=make_data)


def run_seeds(cfg: DictConfig, progress: bool = True, **kw) -> list[Path]:
    """:func:`run_paradigm` for every seed of ``cfg.plan.seeds``; the run folders of all of them."""
    cfgs = []
    for seed in cfg.plan.seeds:
        c = cfg.copy()
        c.seed = int(seed)
        cfgs.append(c)
    return run_configs(cfgs, progress=progress, **kw)


def collect_logs(paths: Iterable[Path | str]) -> pd.DataFrame:
    """The ``train_log.csv`` of each run folder, with ``paradigm``, ``unit`` and ``seed`` columns."""
    frames = []
    for d in map(Path, paths):
        if (d / runs.TRAIN_LOG).exists():
            where = runs.parse_run_path(d, d.parents[2])  # paradigm, unit and seed; the experiment is not needed here
            frames.append(runs.read_table(d, runs.TRAIN_LOG).assign(paradigm=where["paradigm"], unit=where["unit"],
                                                                   seed=where["seed"]))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
