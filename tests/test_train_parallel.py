"""Both cores: units trained in two processes give byte-identical results to one process, whatever its threads."""
from __future__ import annotations

import torch

from m2dino import runs
from m2dino.config import load
from m2dino.train.paradigms import run_paradigm

# a detection and a regression task: their metrics changed with the thread count before it was pinned (measured)
TASKS = ["thyroid_nodule_det", "FUGC", "breast_2cls"]
FILES = ("metrics.csv", "per_image.csv", "per_image_trivial.csv", "train_log.csv", "val_log.csv", "routing.json")


def test_two_unit_processes_match_one_process_with_two_threads(smoke_data, tmp_path):
    def run(workers: int, caller_threads: int) -> list:
        out = tmp_path / f"w{workers}"
        cfg = load(["profile=smoke", "paradigm=single", f"data.root={smoke_data}", f"results_dir={out}",
                    "train.n_boot=50", f"tasks=[{','.join(TASKS)}]", f"runtime.unit_workers={workers}"])
        before = torch.get_num_threads()
        torch.set_num_threads(caller_threads)  # a notebook kernel or a fresh process may start with any count
        try:
            paths = run_paradigm(cfg, progress=False)
        finally:
            torch.set_num_threads(before)
        assert sorted(p.parent.name for p in paths) == sorted(TASKS)
        assert all(runs.state(p) == runs.FINISHED for p in paths)
        return [[(p / f).read_bytes() for f in FILES] for p in sorted(paths)]

    serial = run(1, caller_threads=2)
    parallel = run(2, caller_threads=1)
    for task, a, b in zip(sorted(TASKS), serial, parallel):
        for f, x, y in zip(FILES, a, b):
            assert x == y, f"{task}: {f} differs between one process and two"
