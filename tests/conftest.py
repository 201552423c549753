"""Test-wide settings: the smoke profile, quiet progress bars, a headless plotting backend."""
import os

import pytest
import torch

os.environ.setdefault("M2DINO_PROFILE", "smoke")
os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

# Under pytest-xdist (make test's first pass), each worker's torch gets its share of the cores.
if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))))


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models run fastest on one torch thread; two thrash when the CPU is shared. Restored afterwards."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def smoke_data(tmp_path_factory):
    """The smoke profile's synthetic dataset, generated once for every test that trains on it (read-only)."""
    from m2dino.config import load
    from m2dino.synth.generate import write_dataset

    root = tmp_path_factory.mktemp("data") / "smoke"
    write_dataset(load(["profile=smoke"]), root, progress=False)
    return root
