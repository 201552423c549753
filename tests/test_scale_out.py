"""Scale out through Hydra's submitit launcher: a two-job sweep with ``hydra/launcher=submitit_local`` goes through the
same submitit code path as ``hydra/launcher=slurm`` (jobs pickled, started as separate processes, results collected),
only the executor differs. Real Slurm and NCCL are not tested here (docs/scale-out.md)."""
from __future__ import annotations

import subprocess
import sys


def test_two_job_sweep_through_submitit_local_finishes_both_runs(smoke_data, tmp_path):
    results, sweep = tmp_path / "results", tmp_path / "multirun"
    cmd = [sys.executable, "-m", "m2dino.train.app", "-m", "profile=smoke", "paradigm=single", "tasks=[breast_2cls]",
           "seed=0,1", f"data.root={smoke_data}", f"results_dir={results}", "model.weights=null", "train.n_boot=50",
           "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10", "hydra.launcher.cpus_per_task=1",
           f"hydra.sweep.dir={sweep}"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, (p.stdout + p.stderr)[-3000:]
    for seed in (0, 1):
        run = results / "smoke" / "single" / "breast_2cls" / f"seed{seed}"
        assert (run / "DONE").exists() and (run / "metrics.csv").exists(), seed
    jobs = sorted(p.name for p in (sweep / ".submitit").iterdir() if p.is_dir() and p.name.isdigit())
    assert len(jobs) == 2, jobs  # two submitit jobs (folders named by job id), each with its logs and pickled result
    assert all(list((sweep / ".submitit" / j).glob("*_result.pkl")) for j in jobs)
