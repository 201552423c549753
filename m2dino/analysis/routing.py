"""Expert usage and task similarity from a run's ``routing.json`` (task -> MoE block -> tokens per expert, the
counts of ``model.routing_counts()`` accumulated over the test images)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy.spatial.distance import jensenshannon

from m2dino import runs
from m2dino.analysis.clustering import average_linkage


def load_routing(run_dir: Path) -> pd.DataFrame:
    """Expert usage of one run: rows (task, block, expert, tokens, share), share = fraction of the task's tokens in
    that block routed to the expert (summing to top-k per block under top-k routing, normalised to 1 here)."""
    path = Path(run_dir) / runs.ROUTING
    raw = runs.read_routing(run_dir)
    if isinstance(raw, dict) and isinstance(raw.get("counts"), dict):
        raw = raw["counts"]
    rows = []
    for task, blocks in raw.items():
        if not isinstance(blocks, dict):
            raise ValueError(f"{path}: task {task!r}: expected block -> expert counts, got {type(blocks).__name__}")
        for block, counts in blocks.items():
            counts = np.asarray(counts, dtype=float)
            total = counts.sum()
            for e, n in enumerate(counts):
                rows.append({"task": task, "block": int(block), "expert": e, "tokens": n,
                             "share": n / total if total > 0 else np.nan})
    if not rows:
        raise ValueError(f"{path}: no routing counts (the model has no MoE blocks?)")
    return pd.DataFrame(rows).sort_values(["task", "block", "expert"], kind="stable").reset_index(drop=True)


def routing_similarity(usage: pd.DataFrame) -> pd.DataFrame:
    """Task x task similarity: 1 - mean over MoE blocks of the Jensen-Shannon distance (base 2) between the tasks'
    expert-share distributions. 1 = identical routing, 0 = disjoint experts."""
    tasks = list(dict.fromkeys(usage["task"]))
    blocks = sorted(usage["block"].unique())
    dist = np.zeros((len(tasks), len(tasks)))
    for b in blocks:
        m = usage[usage["block"] == b].pivot_table(index="task", columns="expert", values="tokens").reindex(tasks)
        p = m.to_numpy(float)
        p = p / p.sum(axis=1, keepdims=True)
        for i in range(len(tasks)):
            for j in range(i + 1, len(tasks)):
                d = jensenshannon(p[i], p[j], base=2)
                dist[i, j] += d
                dist[j, i] += d
    dist /= max(len(blocks), 1)
    return pd.DataFrame(1.0 - dist, index=tasks, columns=tasks)


def cluster(similarity: pd.DataFrame) -> tuple[list[str], np.ndarray]:
    """Average-linkage hierarchical clustering of the tasks on 1 - similarity; the leaf order and the linkage."""
    return average_linkage(1.0 - similarity)
