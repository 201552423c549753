"""DDP: two gloo processes on CPU, each on half of every global batch, end where one process on whole batches ends."""
from __future__ import annotations

import torch
import torch.multiprocessing as mp
from omegaconf import OmegaConf

from m2dino.config import load
from m2dino.train import checkpoint
from m2dino.train.ddp import shard
from m2dino.train.loop import fit
from train_standins import TASKS, TinyModel, ddp_worker, tiny_data


def test_shards_cover_the_batch_and_weights_restore_the_mean():
    idx = list(range(7))
    shards = [shard(idx, r, 2) for r in range(2)]
    assert shards[0][0] + shards[1][0] == idx
    assert sum(s for _, s in shards) / 2 == 1.0 and shards[0][1] != shards[1][1]
    assert shard([5], 1, 2) == ([5], 1.0)  # smaller than the world: every rank takes all of it


def test_two_process_ddp_matches_single_process(tmp_path):
    # batch 3 over 2 ranks: shares of 2 and 1 images, so the loss factors matter
    cfg = load(["profile=smoke", "train.epochs=1", "train.batch_size=3", "train.lr=3e-3", "train.n_boot=0"])
    train, val, _ = tiny_data(cfg, TASKS)
    torch.manual_seed(0)
    single = TinyModel(TASKS, dropout=0.0)
    (tmp_path / "single").mkdir()
    fit(single, train, val, cfg, tmp_path / "single", torch.device("cpu"), progress=False)

    (tmp_path / "ddp").mkdir()
    mp.start_processes(ddp_worker, args=(2, str(tmp_path / "init"), OmegaConf.to_yaml(cfg), str(tmp_path / "ddp")),
                       nprocs=2, join=True, start_method="fork")  # fork: no re-import of torch
    a = checkpoint.load(tmp_path / "single" / "last.pt")["model"]
    b = checkpoint.load(tmp_path / "ddp" / "last.pt")["model"]
    assert checkpoint.load(tmp_path / "ddp" / "last.pt")["step"] == 4 * len(TASKS)
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=1e-4, atol=1e-5, msg=f"parameter {k} differs")
    torch.manual_seed(0)
    init = TinyModel(TASKS, dropout=0.0).state_dict()  # the same init: training did move the weights
    assert any((a[k] - init[k]).abs().max() > 1e-3 for k in a)


def test_one_entry_point_joins_a_process_group_only_under_torchrun(monkeypatch):
    from m2dino.train.ddp import distributed, launched_by_torchrun

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.delenv("RANK", raising=False)
    assert not launched_by_torchrun()
    with distributed() as (rank, world):  # `python -m m2dino train`: a single process, no process group
        assert (rank, world) == (0, 1)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    assert launched_by_torchrun()  # `torchrun --nproc_per_node=2 -m m2dino train`: the same command joins one
