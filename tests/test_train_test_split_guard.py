"""No choice is made on test: training and model selection never open the test split; only final scoring does.

A spy watches every image, mask and label file the run opens, and every dataset it builds. Dataset validation, which
checks every split's files for integrity and leaks but trains and selects nothing, is left out of the watch.
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path


from m2dino import runs
from m2dino.config import load

TASKS = ["breast_lesion", "thyroid_nodule_det", "FUGC", "breast_2cls"]


def test_only_final_scoring_reads_the_test_split(smoke_data: Path, tmp_path: Path, monkeypatch) -> None:
    import m2dino.data.build as build
    import m2dino.data.io as io
    import m2dino.data.layout as layout
    import m2dino.train.run as run
    from m2dino.train.paradigms import run_paradigm

    phase = ["train"]  # where the run is: "train" (training and model selection), "validate" or "final"
    test_dir = (smoke_data / "test").resolve()
    reads: list[tuple[str, str, str]] = []  # (phase, function, split) of every file read

    @contextmanager
    def in_phase(name: str):
        phase.append(name)
        try:
            yield
        finally:
            phase.pop()

    def split_of(path) -> str:
        p = Path(path).resolve()
        return "test" if p.is_relative_to(test_dir) else "other"

    def spy_file(name, fn):
        def wrapped(path, *a, **k):
            if phase[-1] != "validate":
                reads.append((phase[-1], name, split_of(path)))
            return fn(path, *a, **k)
        return wrapped

    for name in ("read_image", "read_mask", "image_size"):
        monkeypatch.setattr(io, name, spy_file(name, getattr(io, name)))

    def spy_record(name, fn):
        def wrapped(rec, *a, **k):
            if phase[-1] != "validate":
                reads.append((phase[-1], name, "test" if rec.split == "test" else "other"))
            return fn(rec, *a, **k)
        return wrapped

    for name in ("parse_label", "parse_box", "parse_points"):
        monkeypatch.setattr(layout, name, spy_record(name, getattr(layout, name)))

    splits_built: list[tuple[str, str]] = []
    real_build, real_validate, real_finish = build.build_datasets, build.raise_if_invalid, run.finish

    def spy_build(cfg, task_ids, split, *a, **k):
        splits_built.append((phase[-1], split))
        return real_build(cfg, task_ids, split, *a, **k)

    def spy_validate(*a, **k):
        with in_phase("validate"):
            return real_validate(*a, **k)

    def spy_finish(*a, **k):
        with in_phase("final"):
            return real_finish(*a, **k)

    monkeypatch.setattr(build, "build_datasets", spy_build)
    monkeypatch.setattr(build, "raise_if_invalid", spy_validate)
    monkeypatch.setattr(run, "finish", spy_finish)

    over = ["profile=smoke", "paradigm=all", f"data.root={smoke_data}", f"results_dir={tmp_path}", "train.n_boot=0",
            "train.epochs=2", "train.eval_every=1", "data.cache_in_memory=false", f"tasks=[{','.join(TASKS)}]"]
    (path,) = run_paradigm(load(over), progress=False)
    assert runs.state(path) == runs.FINISHED

    # the spy saw what it should: training read train and val, final scoring read test
    assert any(p == "train" and s == "other" for p, _, s in reads)
    assert any(p == "final" and s == "test" for p, _, s in reads)
    assert ("final", "test") in splits_built and ("train", "val") in splits_built
    # ... and nothing outside final scoring touched the test split
    outside = sorted({(p, f) for p, f, s in reads if s == "test" and p != "final"})
    assert not outside, f"test-split files read outside final scoring: {outside}"
    assert [b for b in splits_built if b[1] == "test"] == [("final", "test")]
