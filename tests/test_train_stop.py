"""Stops that leave nothing behind (m2dino/train/stopping.py): a stop signal to a training pool ends every process of
it, a worker ends with its parent however the parent went, and a rerun resumes to the metrics of an uninterrupted run.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import psutil
import pytest

from m2dino.config import load
from m2dino.train import stopping
from m2dino.train.paradigms import run_paradigm

TASKS = ["breast_2cls", "thyroid_nodule_det", "FUGC"]  # three units for two workers: one waits while two train


def _gone_within(procs: list[psutil.Process], seconds: float) -> list[str]:
    """The processes of ``procs`` still there (zombies count as gone) after waiting up to ``seconds``."""
    deadline = time.monotonic() + seconds
    left = list(procs)
    while left and time.monotonic() < deadline:
        still = []
        for p in left:
            try:
                if p.status() != psutil.STATUS_ZOMBIE:
                    still.append(p)
            except psutil.NoSuchProcess:
                pass
        left = still
        time.sleep(0.1)
    return [f"{p.pid} {' '.join(p.cmdline())[:120]}" for p in left if p.is_running()]


def _wait_for(pred, timeout: float, what: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if proc.poll() is not None:
            pytest.fail(f"the training ended (exit {proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"no {what} within {timeout} s")
        time.sleep(0.05)


def test_sigterm_ends_the_pool_and_a_rerun_matches_an_uninterrupted_run(smoke_data, tmp_path):
    args = ["profile=smoke", "paradigm=single", f"data.root={smoke_data}", "train.n_boot=50", "train.epochs=2",
            f"tasks=[{','.join(TASKS)}]"]
    out = tmp_path / "stopped"
    log = open(tmp_path / "train.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "m2dino", "train", *args, f"results_dir={out}",
                             "runtime.unit_workers=2"], stdout=log, stderr=subprocess.STDOUT)
    runs = out / "smoke" / "single"
    # the workers train: a unit has made its run folder (_prepare_dir writes config.yaml first)
    _wait_for(lambda: any(runs.glob("*/seed0/config.yaml")), 300, "unit started", proc)
    pool = psutil.Process(proc.pid).children(recursive=True)
    assert sum("loky" in " ".join(p.cmdline()) for p in pool) >= 2, [p.cmdline() for p in pool]
    proc.send_signal(signal.SIGTERM)
    left = _gone_within([psutil.Process(proc.pid), *pool], 10)
    assert not left, f"still running 10 s after SIGTERM: {left}"
    assert proc.wait(5) == 128 + signal.SIGTERM, (tmp_path / "train.log").read_text()[-2000:]
    assert "stopped by SIGTERM" in (tmp_path / "train.log").read_text()
    done = sorted(d.parent.name for d in runs.glob("*/seed0/DONE"))
    assert len(done) < len(TASKS), "every unit had finished: the signal came too late to test a resume"

    # the rerun resumes the partial run folders and ends with the metrics of an uninterrupted run
    rerun = run_paradigm(load([*args, f"results_dir={out}", "runtime.unit_workers=1"]), progress=False)
    whole = run_paradigm(load([*args, f"results_dir={tmp_path / 'whole'}", "runtime.unit_workers=1"]), progress=False)
    for a, b in zip(sorted(rerun), sorted(whole)):
        assert (a / "DONE").exists()
        assert (a / "metrics.csv").read_bytes() == (b / "metrics.csv").read_bytes(), a.parent.name


def test_guard_turns_sigterm_into_stopped_and_restores_the_handler():
    before = signal.getsignal(signal.SIGTERM)
    timer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGTERM))
    with pytest.raises(stopping.Stopped) as e:
        with stopping.guard_pool():
            timer.start()
            time.sleep(10)
    assert e.value.signum == signal.SIGTERM and isinstance(e.value, KeyboardInterrupt)
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_worker_ends_when_its_parent_is_killed(tmp_path):
    """SIGKILL leaves the parent no chance to clean up: the worker's watchdog ends it (and its own child)."""
    pids = tmp_path / "pids"
    parent = textwrap.dedent(f"""
        import multiprocessing as mp, subprocess, sys, time
        from m2dino.train import stopping

        def work(path):
            child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
            open(path, "w").write(f"{{child.pid}}")
            time.sleep(60)

        if __name__ == "__main__":
            p = mp.get_context("fork").Process(target=stopping.in_worker(work), args=({str(pids)!r},))
            p.start()
            time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", parent])
    _wait_for(lambda: pids.exists() and pids.read_text(), 60, "worker started", proc)
    family = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    assert len(family) >= 3  # the parent, its worker, the worker's child
    proc.kill()
    proc.wait(5)
    left = _gone_within(family[1:], 10)
    assert not left, f"still running 10 s after the parent was killed: {left}"


def test_cli_reports_a_stop_with_the_signal_status(monkeypatch, capsys):
    from m2dino import cli
    from m2dino.commands import tasks

    def stop(argv):
        raise stopping.Stopped(signal.SIGTERM)

    monkeypatch.setattr(tasks, "main", stop)
    assert cli.main(["tasks"]) == 128 + signal.SIGTERM
    assert "stopped by SIGTERM" in capsys.readouterr().err
