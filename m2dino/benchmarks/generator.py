"""Synthetic generator speed: 128x128 images per second on the path ``write_dataset`` uses (generation, PNG writing
of images and masks, the CSV row), on one core and on all cores, and the pymust PSF time per probe.

The timed jobs are those of a dataset (every task, the item seeds of ``write_dataset``) written into a temporary
folder, so the figure includes the PNG encoding and the file system. The load average before and after is reported:
other processes on the machine lower the figures; the CPU time per image on one core (``cpu_ms_per_image_one_core``)
depends much less on them.
"""
from __future__ import annotations

import os
import tempfile
import time

from m2dino.registry import task_ids

NAME = "generator"
SIZE = 128
PER_TASK = 24  # images per task in the timed all-cores run (27 x 24 = 648 images)
ONE_CORE_PER_TASK = 4  # images per task in the timed one-core run (108 images)
GOAL = 500  # images/s at 128x128 on both cores, PNG writing included (the bar; the goal is 1,000)


def run(cfg) -> dict:
    from multiprocessing import get_context

    from m2dino.synth import psf
    from m2dino.synth.generate import _Job, _warm, _work, job_folders

    psf_s = {}
    for kind, probe in psf.PROBES.items():
        t0 = time.perf_counter()
        psf.compute_psf(probe)
        psf_s[kind] = round(time.perf_counter() - t0, 3)
    load_before = round(os.getloadavg()[0], 2)
    _warm(SIZE)
    workers = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="m2dino-genbench-") as tmp:
        def jobs(split: str, per_task: int) -> list[_Job]:
            return [_Job(tmp, t, split, i, SIZE, 0, "bench") for t in task_ids() for i in range(per_task)]

        warm, one, many = jobs("val", 1), jobs("test", ONE_CORE_PER_TASK), jobs("train", PER_TASK)
        job_folders(warm + one + many)
        for j in warm:  # first call per task outside the timing
            _work(j)
        t0, c0 = time.perf_counter(), time.process_time()
        for j in one:
            _work(j)
        one_core = len(one) / (time.perf_counter() - t0)
        cpu_ms = (time.process_time() - c0) / len(one) * 1e3
        with get_context("fork").Pool(workers) as pool:
            pool.map(_work, warm * workers)  # worker start-up outside the timing
            t0 = time.perf_counter()
            pool.map(_work, many, chunksize=8)
            all_cores = len(many) / (time.perf_counter() - t0)
        png_bytes = sum(e.stat().st_size for e in os.scandir(os.path.join(tmp, "train", "Classification", "organ_cls",
                                                                          "images")))
    return {"psf_seconds": psf_s, "images_per_s_128_one_core": round(one_core, 1),
            "images_per_s_128_all_cores": round(all_cores, 1), "workers": workers,
            "cpu_ms_per_image_one_core": round(cpu_ms, 2),
            "png_writing_included": True, "png_bytes_per_image_organ_cls": round(png_bytes / PER_TASK),
            "load_average_1min_before": load_before, "load_average_1min_after": round(os.getloadavg()[0], 2),
            "goal_images_per_s": GOAL,
            "note": "write_dataset's own per-item work (generate, write image and mask PNGs, CSV row) into a temporary "
                    "folder; the machine's other load lowers the numbers"}
