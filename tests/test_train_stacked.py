"""Seeds trained as one stacked model write exactly the run folders they write trained one at a time."""
from __future__ import annotations

import json

import pytest
import torch

from m2dino.config import load
from m2dino.train.loop import NonFiniteLossError
from m2dino.train.paradigms import plan_stacks, run_seeds
from m2dino.train.run import default_model, run_config, run_unit
from m2dino.train.stacked import run_stack, stack_key

pytestmark = pytest.mark.usefixtures("one_thread")

# everything a run writes but run.json (its timing) and config.yaml (where it was written, and runtime.stack); the
# checkpoints too: torch.save is deterministic
FILES = ("metrics.csv", "per_image.csv", "per_image_trivial.csv", "train_log.csv", "val_log.csv", "routing.json",
         "best.pt", "last.pt", "DONE")


def _cfg(smoke_data, out, *extra):
    return load(["profile=smoke", f"data.root={smoke_data}", f"results_dir={out}", "train.n_boot=20", *extra])


def _files(paths, resumed: bool = False):
    """The run folders' files; of a resumed run, last.pt's model only (a resume alone already changes the bytes of
    its optimiser state, not their values)."""
    def read(p, f):
        if resumed and f == "last.pt":
            return {n: v.numpy().tobytes() for n, v in torch.load(p / f, weights_only=True)["model"].items()}
        return (p / f).read_bytes()

    return {(p.parent.name, p.name): {f: read(p, f) for f in FILES} for p in paths}


def test_stacked_seeds_write_the_files_they_write_alone(smoke_data, tmp_path):
    """The stacked-vs-alone test at tolerance zero: two seeds of a segmentation and a detection TS unit, scheduled by
    run_seeds, stacked or one at a time. Byte-identical metrics also mean the stacked path is deterministic."""
    def run(stack: int):
        cfg = _cfg(smoke_data, tmp_path / f"s{stack}", "paradigm=single", "tasks=[breast_lesion,thyroid_nodule_det]",
                   "plan.seeds=[0,1]", f"runtime.stack={stack}", "runtime.unit_workers=1")
        return run_seeds(cfg, progress=False)

    alone, stacked = run(1), run(2)
    assert _files(alone) == _files(stacked)
    info = [json.loads((p / "run.json").read_text()) for p in stacked]
    assert all(i["stack"]["size"] == 2 and i["stack"]["seeds"] == [0, 1] for i in info)  # it really was stacked
    assert not any("stack" in json.loads((p / "run.json").read_text()) for p in alone)


def test_cg_seeds_stack_only_with_a_shared_task_order(smoke_data, tmp_path):
    base = ("paradigm=clinical", "unit=breast", "train.epochs=1")
    jobs = [(c, "breast", ["breast_2cls", "breast_lesion"]) for c in
            (_cfg(smoke_data, tmp_path, *base, f"seed={s}") for s in (0, 1))]
    assert stack_key(run_config(*jobs[0])) is None  # the seeds interleave their tasks differently
    assert [len(s) for s in plan_stacks(jobs, 4)] == [1, 1]
    ordered = [(c, "breast", ids) for c, _, ids in jobs]
    for c, _, _ in ordered:
        c.train.order_seed = 5
    assert [len(s) for s in plan_stacks(ordered, 4)] == [2]
    stacked = run_stack([c for c, _, _ in ordered], "breast", ordered[0][2], progress=False)
    for c, _, _ in ordered:
        c.results_dir = str(tmp_path / "alone")
    alone = [run_unit(c, "breast", ids, progress=False) for c, _, ids in ordered]
    assert _files(alone) == _files(stacked)


def test_plan_stacks_groups_seeds_of_a_unit_evenly_and_keeps_the_rest_alone(smoke_data, tmp_path):
    seeds = [(_cfg(smoke_data, tmp_path, "paradigm=single", f"seed={s}"), "FUGC", ["FUGC"]) for s in range(5)]
    other = (_cfg(smoke_data, tmp_path, "paradigm=single"), "IUGC", ["IUGC"])
    au = (_cfg(smoke_data, tmp_path, "paradigm=all"), "all", ["FUGC", "IUGC"])  # order follows the seed
    plan = plan_stacks([*seeds[:2], other, *seeds[2:], au], 4)
    assert [[int(c.seed) for c, _, _ in s] for s in plan] == [[0, 1, 2], [3, 4], [0], [0]]
    assert [s[0][1] for s in plan] == ["FUGC", "FUGC", "IUGC", "all"]
    assert [len(s) for s in plan_stacks(seeds, 1)] == [1] * 5
    # never fewer groups than processes: both cores busy beats stacking
    assert [len(s) for s in plan_stacks(seeds[:3], 4, min_count=2)] == [2, 1]
    assert [len(s) for s in plan_stacks([*seeds[:3], other], 4, min_count=2)] == [3, 1]


def test_stacked_runs_resume_each_other_and_end_as_uninterrupted(smoke_data, tmp_path):
    """Killed after one of two epochs, a stack resumes as a stack or its runs alone, and vice versa."""
    def cfgs(out):
        return [_cfg(smoke_data, tmp_path / out, "paradigm=single", "train.epochs=2", f"seed={s}") for s in (0, 1)]

    unit, ids = "thyroid_nodule_det", ["thyroid_nodule_det"]
    whole = [run_unit(c, unit, ids, progress=False) for c in cfgs("whole")]
    # stacked, killed, resumed stacked
    c = cfgs("ss")
    assert not any((p / "DONE").exists() for p in run_stack(c, unit, ids, progress=False, stop_after_epoch=1))
    ss = run_stack(c, unit, ids, progress=False)
    # alone, killed, resumed stacked; stacked, killed, resumed alone
    c = cfgs("as")
    for x in c:
        run_unit(x, unit, ids, progress=False, stop_after_epoch=1)
    mixed = run_stack(c, unit, ids, progress=False)
    c = cfgs("sa")
    run_stack(c, unit, ids, progress=False, stop_after_epoch=1)
    back = [run_unit(x, unit, ids, progress=False) for x in c]
    assert _files(whole, True) == _files(ss, True) == _files(mixed, True) == _files(back, True)


def test_a_model_that_diverges_stops_alone_and_the_others_finish(smoke_data, tmp_path):
    def make_model(rc, ids):
        m = default_model(rc, ids)
        if int(rc.seed) == 1:
            with torch.no_grad():
                m.heads["FUGC"].global_offset.bias.fill_(float("nan"))
        return m

    c = [_cfg(smoke_data, tmp_path / "s", "paradigm=single", f"seed={s}") for s in (0, 1)]
    with pytest.raises(NonFiniteLossError, match="seed1: non-finite loss on task 'FUGC' at step 0"):
        run_stack(c, "FUGC", ["FUGC"], progress=False, make_model=make_model)
    ok, bad = (tmp_path / "s" / "smoke" / "single" / "FUGC" / f"seed{s}" for s in (0, 1))
    assert (ok / "DONE").exists() and not (bad / "DONE").exists() and not (bad / "last.pt").exists()
    alone = run_unit(_cfg(smoke_data, tmp_path / "a", "paradigm=single", "seed=0"), "FUGC", ["FUGC"], progress=False)
    assert _files([alone]) == _files([ok])
