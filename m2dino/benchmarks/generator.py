"""Synthetic generator speed: images per second at 128x128 with all cores, and the pymust PSF time per probe."""
from __future__ import annotations

import os
import time

import numpy as np

from m2dino.registry import task_ids

NAME = "generator"
SIZE = 128
PER_TASK = 24  # images per task in the timed run (27 x 24 = 648 images)


def _one(args: tuple[str, int]) -> int:
    from m2dino.synth.tasks import make_sample

    task_id, i = args
    return int(make_sample(task_id, np.random.default_rng(i), SIZE).image[0, 0])


def run(cfg) -> dict:
    from multiprocessing import get_context

    from m2dino.synth import psf
    from m2dino.synth.generate import _warm

    psf_s = {}
    for kind, probe in psf.PROBES.items():
        t0 = time.perf_counter()
        psf.compute_psf(probe)
        psf_s[kind] = round(time.perf_counter() - t0, 3)
    _warm(SIZE)
    jobs = [(t, i) for t in task_ids() for i in range(PER_TASK)]
    t0 = time.perf_counter()
    for j in jobs[::PER_TASK]:
        _one(j)
    one_core = len(jobs[::PER_TASK]) / (time.perf_counter() - t0)
    workers = os.cpu_count() or 1
    with get_context("fork").Pool(workers) as pool:
        pool.map(_one, jobs[:workers * 2])  # start-up outside the timing
        t0 = time.perf_counter()
        pool.map(_one, jobs, chunksize=8)
        all_cores = len(jobs) / (time.perf_counter() - t0)
    return {"psf_seconds": psf_s, "images_per_s_128_one_core": round(one_core, 1),
            "images_per_s_128_all_cores": round(all_cores, 1), "workers": workers,
            "load_average_1min": round(os.getloadavg()[0], 2), "goal_images_per_s": 500,
            "note": "generation in memory (no PNG writing); the machine's other load lowers the numbers"}
