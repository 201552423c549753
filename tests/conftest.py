"""Test-wide settings: the smoke profile, quiet progress bars, a headless plotting backend."""
import os

os.environ.setdefault("M2DINO_PROFILE", "smoke")
os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

