"""The GPU check's CPU-side logic (python -m m2dino gpucheck): it refuses without CUDA, keeps to its time limit, finds
the largest batch that fits, and its AU loss check and report run through on CPU at the smoke profile. It has never
run on a GPU here (no GPU was lent)."""
from __future__ import annotations

import json

import pytest
import torch

from m2dino.checks import gpucheck
from m2dino.checks.gpucheck import Budget, largest_fitting
from m2dino.cli import main
from m2dino.config import load

pytestmark = pytest.mark.usefixtures("one_thread")


def test_refuses_without_cuda_with_a_clear_message(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(["gpucheck", f"results_dir={tmp_path}"]) == 1
    err = capsys.readouterr().err
    assert "no CUDA device" in err and "python -m m2dino rehearse profile=paper" in err
    assert list(tmp_path.iterdir()) == []


class _Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_largest_fitting_stops_at_out_of_memory_cap_or_time():
    clock = _Clock()

    def fits_up_to(limit: int):
        def step(b: int) -> dict:
            clock.t += 1
            if b > limit:
                raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
            return {"max_allocated_GiB": b / 10}
        return step

    rows, best = largest_fitting(fits_up_to(100), 16, 1024, Budget(100, clock), per_try_s=1)
    assert best == 64 and [r["batch"] for r in rows] == [16, 32, 64, 128] and rows[-1]["out_of_memory"]
    rows, best = largest_fitting(fits_up_to(10_000), 16, 64, Budget(100, clock), per_try_s=1)
    assert best == 64 and len(rows) == 3  # the cap
    rows, best = largest_fitting(fits_up_to(10_000), 16, 1024, Budget(2.5, clock), per_try_s=1)
    assert best == 32 and len(rows) == 2  # the time limit
    rows, best = largest_fitting(fits_up_to(8), 16, 1024, Budget(100, clock), per_try_s=1)
    assert best is None and rows == [{"batch": 16, "out_of_memory": True}]

    def broken(b: int) -> dict:
        raise ValueError("a real bug")

    with pytest.raises(ValueError, match="a real bug"):  # only running out of memory ends the search quietly
        largest_fitting(broken, 16, 1024, Budget(100, clock), per_try_s=1)


def test_stages_run_on_cpu_at_smoke_and_report_what_they_skip(tmp_path):
    cfg = load(["profile=smoke", f"results_dir={tmp_path}", "bench.gpucheck.au_rounds=1", "bench.gpucheck.au_batch=2"])
    out = tmp_path / "gpucheck.json"
    report = gpucheck.run_checks(cfg, torch.device("cpu"), Budget(600), out,
                                 stages=["device", "au_loss", "memory", "ddp"], image_scale=0.1)
    assert json.loads(out.read_text()) == report
    au = report["stages"]["au_loss"]
    assert au["tasks"] == 27 and au["steps"] == 27 and len(au["mean_loss_per_round"]) == 2
    assert au["loss_went_down"], au  # the trainer's optimiser and losses fit one fixed batch per task
    assert report["stages"]["memory"]["skipped"].startswith("CUDA memory")
    assert report["stages"]["ddp"]["skipped"].startswith("0 GPU(s)")
    assert gpucheck.failed(report) == []
    assert "AU, 27 steps" in gpucheck.summary(report)


def test_a_stage_that_does_not_fit_the_time_left_is_skipped_and_a_failure_is_reported(tmp_path, monkeypatch):
    cfg = load(["profile=smoke", f"results_dir={tmp_path}"])
    monkeypatch.setitem(gpucheck.STAGES, "step_time", (lambda ctx: 1 / 0, 0))
    report = gpucheck.run_checks(cfg, torch.device("cpu"), Budget(20), tmp_path / "g.json",
                                 stages=["step_time", "au_loss"], image_scale=0.1)
    assert report["stages"]["step_time"]["error"].startswith("ZeroDivisionError")
    assert report["stages"]["au_loss"]["skipped"].startswith("time limit")
    assert gpucheck.failed(report) == ["step_time"]
