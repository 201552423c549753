"""Checks before a paper-scale run: a CPU rehearsal of the paper profile's code path (``python -m m2dino rehearse``)
and a GPU check (``python -m m2dino gpucheck``), with what they need made on the spot: a random-valued weight file in
Meta's DINOv3 format (:mod:`~m2dino.checks.meta_weights`) and a few images per task in the FMC_UIA release's layout
(:mod:`~m2dino.checks.release_data`). They measure and fail loudly; none of them is a run's result."""
