"""The one way the package limits torch's intra-op threads for a block of code (results depend on the thread count
through float reduction order, so training, pretraining, probes and benchmarks pin it from config)."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` intra-op threads (None or 0: unchanged), restoring the previous number after."""
    before = torch.get_num_threads()
    if n and int(n) != before:
        torch.set_num_threads(int(n))
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)
