"""Small stand-ins obeying the model contract (m2dino/model/multitask.py) and the data-item contract
(docs/data-contract.md), for the training tests.

They let the loop, checkpoints, caching and DDP be tested in seconds, independently of the real backbone and data.
Images carry their target in plain sight (a bright square, a brightness level), so a model can learn in a few steps.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from m2dino.registry import get_task

# One task of each type, with its real id, so the metric and registry code paths are the real ones.
TASKS = ["breast_lesion", "breast_2cls", "thyroid_nodule_det", "FUGC"]
IMG = 16


class TinyModel(nn.Module):
    """One conv "block" and a head per task; ``forward`` and ``task_loss`` as the model contract says."""

    def __init__(self, task_ids: list[str], dim: int = 8, nan_at_call: int | None = None,
                 dropout: float = 0.1) -> None:
        super().__init__()
        self.blocks = nn.ModuleList([nn.Conv2d(3, dim, 3, padding=1)])
        self.norm = nn.GroupNorm(1, dim)
        heads = {}
        for t in task_ids:
            task = get_task(t)
            if task.type == "segmentation":
                heads[t] = nn.Conv2d(dim, task.num_classes, 1)
            elif task.type == "classification":
                heads[t] = nn.Linear(dim, task.num_classes)
            elif task.type == "detection":
                heads[t] = nn.Linear(dim, 4)
            else:
                heads[t] = nn.Linear(dim, 2 * task.num_classes)
        self.heads = nn.ModuleDict(heads)
        self.drop = nn.Dropout(dropout)  # so that resuming must restore the RNG to match
        self.nan_at_call = nan_at_call
        self.calls = 0
        self._routing: dict[str, dict[int, list[int]]] = {}

    def forward(self, images: torch.Tensor, task_id: str) -> dict:
        self.calls += 1
        f = self.drop(F.relu(self.norm(self.blocks[0](images))))
        task = get_task(task_id)
        head = self.heads[task_id]
        if task.type == "segmentation":
            out = head(f)
        else:
            g = f.mean((2, 3))
            if task.type == "classification":
                out = head(g)
            elif task.type == "detection":
                a, b = head(g).sigmoid().view(-1, 2, 2).unbind(1)
                out = torch.cat([torch.minimum(a, b), torch.maximum(a, b)], 1)
            else:
                out = head(g).sigmoid().view(len(g), -1, 2)
        if self.nan_at_call is not None and self.calls >= self.nan_at_call and self.training:
            out = out * float("nan")
        counts = self._routing.setdefault(task_id, {0: [0, 0]})
        counts[0][0] += images.shape[0]
        return {"out": out, "aux_loss": 1e-3 * f.pow(2).mean()}

    def task_loss(self, out: torch.Tensor, target: torch.Tensor, task_id: str) -> torch.Tensor:
        kind = get_task(task_id).type
        if kind in ("segmentation", "classification"):
            return F.cross_entropy(out, target)
        return F.l1_loss(out, target)

    def routing_counts(self) -> dict[str, dict[int, list[int]]]:
        return {t: {b: list(c) for b, c in blocks.items()} for t, blocks in self._routing.items()}

    def reset_routing_counts(self) -> None:
        self._routing = {}


class TinyTaskData(Dataset):
    """``n`` generated items of one task, obeying the dataset item contract; the same for the same (task, split)."""

    def __init__(self, task_id: str, split: str, n: int) -> None:
        self.task = get_task(task_id)
        self.split = split
        g = torch.Generator().manual_seed(sum(map(ord, task_id + split)))  # stable across processes, unlike hash()
        self.items = [self._make(i, g) for i in range(n)]

    def _make(self, i: int, g: torch.Generator) -> dict:
        t = self.task
        img = 0.3 * torch.randn(3, IMG, IMG, generator=g)
        x0, y0 = (int(v) for v in torch.randint(0, IMG // 2, (2,), generator=g))
        w, h = (int(v) for v in torch.randint(3, IMG // 2, (2,), generator=g))
        if t.type == "segmentation":
            target = torch.zeros(IMG, IMG, dtype=torch.int64)
            target[y0:y0 + h, x0:x0 + w] = 1
            img[:, target.bool()] += 1.5
        elif t.type == "classification":
            target = torch.randint(0, t.num_classes, (), generator=g)
            img += float(target) - t.num_classes / 2
        elif t.type == "detection":
            img[:, y0:y0 + h, x0:x0 + w] += 1.5
            target = torch.tensor([x0, y0, x0 + w, y0 + h], dtype=torch.float32) / IMG
        else:
            target = torch.rand(t.num_classes, 2, generator=g)
            img += target.mean()
        orig = (IMG + 4 * (i % 3), IMG + 8)  # original sizes vary from image to image
        return {"image": img.float(), "target": target,
                "meta": {"task_id": t.id, "image_path": f"../{t.type}/{t.id}/{self.split}_{i:03d}.png",
                         "orig_size": orig, "index": i}}

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        return self.items[i]


def tiny_data(cfg, task_ids: list[str], n_train: int = 12, n_eval: int = 8):
    """The (train, val, test) task -> dataset dicts of a run, as ``run_unit(make_data=...)`` wants them."""
    return tuple({t: TinyTaskData(t, s, n_train if s == "train" else n_eval) for t in task_ids}
                 for s in ("train", "val", "test"))


def tiny_model(cfg, task_ids: list[str]) -> TinyModel:
    return TinyModel(task_ids)


def ddp_worker(rank: int, world: int, init_file: str, cfg_yaml: str, out_dir: str) -> None:
    """One process of the DDP equivalence test: gloo on CPU, the stand-in model without dropout, one epoch."""
    import torch.distributed as dist
    from omegaconf import OmegaConf

    from m2dino.train.ddp import init_distributed, wrap_ddp
    from m2dino.train.loop import fit

    torch.set_num_threads(1)
    init_distributed("gloo", f"file://{init_file}", rank, world)
    try:
        cfg = OmegaConf.create(cfg_yaml)
        train, val, _ = tiny_data(cfg, TASKS)
        torch.manual_seed(0)
        model = TinyModel(TASKS, dropout=0.0)
        fit(wrap_ddp(model, torch.device("cpu")), train, val, cfg, out_dir, torch.device("cpu"), progress=False)
    finally:
        dist.destroy_process_group()
