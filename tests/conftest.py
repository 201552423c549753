"""Test-wide settings: the smoke profile, quiet progress bars, a headless plotting backend."""
import os

import pytest
import torch

os.environ.setdefault("M2DINO_PROFILE", "smoke")
os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")



@pytest.fixture(scope="module")
def one_thread():
    """Tiny models run fastest on one torch thread; two thrash when the CPU is shared. Restored afterwards."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
