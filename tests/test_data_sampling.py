"""Multi-task sampling: one task per batch, fixed exposure per task, deterministic order."""
from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
import pytest

from m2dino.data.sampling import MODES, PlanKey, TaskBatchSampler, epoch_plan, item_seed

SIZES = {"a": 10, "b": 3, "c": 17}


def by_task(plan):
    out = defaultdict(list)
    for t, idx in plan:
        out[t].append(idx)
    return out


@pytest.mark.parametrize("mode", MODES)
def test_fixed_exposure(mode):
    for epoch in range(3):
        got = by_task(epoch_plan(SIZES, 4, mode, temperature=2.0, seed=1, epoch=epoch))
        for t, n in SIZES.items():
            assert len(got[t]) == math.ceil(n / 4)
            assert sorted(i for b in got[t] for i in b) == list(range(n))  # every image exactly once


@pytest.mark.parametrize("mode", MODES)
def test_a_tasks_batches_do_not_depend_on_its_companions(mode):
    alone = epoch_plan({"a": 10}, 4, mode, seed=3, epoch=2)
    together = by_task(epoch_plan(SIZES, 4, mode, seed=3, epoch=2))
    assert [b for _, b in alone] == together["a"]


def test_deterministic_and_epoch_dependent():
    p1 = epoch_plan(SIZES, 4, "proportional", seed=0, epoch=0)
    assert p1 == epoch_plan(SIZES, 4, "proportional", seed=0, epoch=0)
    assert p1 != epoch_plan(SIZES, 4, "proportional", seed=0, epoch=1)
    assert p1 != epoch_plan(SIZES, 4, "proportional", seed=1, epoch=0)


def test_modes_order_differently():
    sizes = {"big": 400, "small": 40}

    def mean_pos(mode, temperature=2.0):
        pos = [np.mean([i for i, (t, _) in enumerate(epoch_plan(sizes, 4, mode, temperature, seed=s)) if
                        t == "small"]) for s in range(5)]
        return float(np.mean(pos))

    # 110 batches: proportional spreads the small task's 10 over the epoch (mean ~55); uniform uses them up early
    assert 40 < mean_pos("proportional") < 70
    assert mean_pos("uniform") < 15
    assert mean_pos("uniform") < mean_pos("temperature", 4.0) < mean_pos("temperature", 1.0)


def test_eval_order_is_sequential():
    plan = epoch_plan(SIZES, 4, shuffle=False)
    assert [t for t, _ in plan] == ["a"] * 3 + ["b"] + ["c"] * 5
    assert plan[0] == ("a", [0, 1, 2, 3]) and plan[2] == ("a", [8, 9])


def test_batch_sampler_yields_the_epoch_plan():
    s = TaskBatchSampler(SIZES, 4, "uniform", seed=0)
    s.set_epoch(1)
    batches = list(s)
    assert len(batches) == len(s) == 3 + 1 + 5
    assert [(b[0].task, [k.index for k in b]) for b in batches] == epoch_plan(SIZES, 4, "uniform", seed=0, epoch=1)
    assert all(len({k.task for k in b}) == 1 and all(k.share == 1.0 for k in b) for b in batches)
    assert all(k.aug_seed == item_seed(0, 1, k.task, k.index) for b in batches for k in b)
    with pytest.raises(ValueError, match="train.sampler"):
        TaskBatchSampler(SIZES, 4, "random")


@pytest.mark.parametrize("repeats", [1, 3, {"a": 1, "b": 4, "c": 1}])
def test_a_fixed_order_seed_shares_the_task_order_and_nothing_else(repeats):
    """train.order_seed: seeds of one unit interleave their tasks alike (so they can train stacked), while each task's
    image order and every image's augmentation seed still follow the run's seed; null keeps today's plans."""
    def sampler(seed, order_seed=None):
        s = TaskBatchSampler(SIZES, 4, "proportional", seed=seed, repeats=repeats, order_seed=order_seed)
        s.set_epoch(1)
        return list(s)

    a, b = sampler(0, order_seed=7), sampler(1, order_seed=7)
    assert [x[0].task for x in a] == [x[0].task for x in b]
    assert [[k.index for k in x] for x in a] != [[k.index for k in x] for x in b]
    assert {k.aug_seed for x in a for k in x}.isdisjoint({k.aug_seed for x in b for k in x})
    assert by_task((x[0].task, [k.index for k in x]) for x in a) == by_task(
        (x[0].task, [k.index for k in x]) for x in sampler(0))  # each task's batches: the seed's own
    assert [x[0].task for x in sampler(0)] != [x[0].task for x in sampler(1)]  # without it, seeds differ in order
    assert sampler(0, order_seed=None) == sampler(0)


def test_augmentation_seeds_differ_by_image_epoch_and_seed_only():
    seeds = {item_seed(s, e, t, i) for s in (0, 1) for e in (0, 1) for t in SIZES for i in range(SIZES[t])}
    assert len(seeds) == 2 * 2 * sum(SIZES.values())
    assert item_seed(3, 2, "a", 5) == item_seed(3, 2, "a", 5) and 0 <= item_seed(3, 2, "a", 5) < 2 ** 63
    assert all(k.aug_seed is None for b in TaskBatchSampler(SIZES, 4, shuffle=False) for k in b)  # evaluation


@pytest.mark.parametrize("world", [2, 3])
def test_ranks_split_every_batch_and_their_shares_restore_the_mean(world):
    whole = list(TaskBatchSampler(SIZES, 5, "proportional", seed=2))
    ranks = [list(TaskBatchSampler(SIZES, 5, "proportional", seed=2, rank=r, world=world)) for r in range(world)]
    assert all(len(r) == len(whole) for r in ranks)  # every rank steps together
    for j, batch in enumerate(whole):
        parts: list[list[PlanKey]] = [r[j] for r in ranks]
        if len(batch) < world:  # too small to split: every rank takes it whole
            assert all(p == batch for p in parts)
            continue
        assert [k[:3] for p in parts for k in p] == [k[:3] for k in batch]  # contiguous shares, in order, covering the batch
        # DDP averages (1/world) the ranks' share * (mean over the part): each image must weigh 1/len(batch)
        assert all(p[0].share / (len(p) * world) == pytest.approx(1 / len(batch)) for p in parts)
    with pytest.raises(ValueError, match="rank"):
        TaskBatchSampler(SIZES, 4, rank=2, world=2)


def test_repeats_for_reaches_the_step_floor_and_no_more_passes_than_needed():
    from m2dino.data.sampling import repeats_for

    # 3 + 1 + 5 = 9 batches per pass at batch 4; 2 epochs -> 18 steps
    assert repeats_for(SIZES, 4, epochs=2, min_steps=0) == 1
    assert repeats_for(SIZES, 4, epochs=2, min_steps=18) == 1
    assert repeats_for(SIZES, 4, epochs=2, min_steps=19) == 2
    assert repeats_for({"b": 3}, 4, epochs=6, min_steps=100) == 17  # 1 batch per pass: ceil(100 / 6)


def test_repeated_epoch_is_several_fixed_exposure_passes():
    plan = epoch_plan(SIZES, 4, "proportional", seed=0, epoch=1, repeats=3)
    assert len(plan) == 3 * 9
    got = by_task(plan)
    for t, n in SIZES.items():
        assert sorted(i for b in got[t] for i in b) == sorted(list(range(n)) * 3)  # every image exactly 3 times
    # pass j of epoch e is single-pass epoch e * repeats + j: distinct passes, and repeats=1 is unchanged
    assert plan[:9] == epoch_plan(SIZES, 4, "proportional", seed=0, epoch=3)
    assert plan[9:18] == epoch_plan(SIZES, 4, "proportional", seed=0, epoch=4)
    s = TaskBatchSampler(SIZES, 4, "proportional", seed=0, repeats=3)
    s.set_epoch(1)
    assert len(s) == 27 and len(list(s)) == 27
    with pytest.raises(ValueError, match="repeats"):
        epoch_plan(SIZES, 4, repeats=0)


def test_step_floor_is_per_task_and_the_same_in_every_paradigm():
    from m2dino.data.sampling import task_repeats

    # alone, "b" (3 images, 1 batch per pass) needs 17 passes per epoch for 100 steps in 6 epochs; in a unit with
    # larger tasks it still gets them (a floor per unit would have given it 100 * 1/9 of the unit's steps)
    reps = task_repeats(SIZES, 4, epochs=6, min_steps=100)
    assert reps == {t: task_repeats({t: n}, 4, 6, 100)[t] for t, n in SIZES.items()}
    assert reps["b"] == 17 and reps["c"] == 4  # 5 batches per pass: ceil(100 / 30)
    s = TaskBatchSampler(SIZES, 4, "proportional", seed=0, repeats=reps)
    steps = {t: 0 for t in SIZES}
    for epoch in range(6):
        s.set_epoch(epoch)
        batches = list(s)
        assert len(batches) == len(s)
        for b in batches:
            steps[b[0].task] += 1
    assert all(steps[t] >= 100 for t in SIZES)
    # each task's own batches and augmentation seeds are those it gets alone (TS): only the interleaving differs
    for t, n in SIZES.items():
        alone = TaskBatchSampler({t: n}, 4, "proportional", seed=0, repeats=reps[t])
        alone.set_epoch(2)
        s.set_epoch(2)
        assert [k for b in s if b[0].task == t for k in b] == [k for b in alone for k in b]
