"""Benchmarks run by ``python -m m2dino bench``: each module has ``NAME`` and ``run(cfg) -> dict``."""
