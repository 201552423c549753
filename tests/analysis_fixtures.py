"""Fabricated run folders in exactly the run-folder contract (docs/run-folder.md), for the analysis tests only.

Nothing here is a result: values are chosen by the tests so that the expected tables can be computed by hand.
"""
from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Iterable
from pathlib import Path

import zlib

import numpy as np
import pandas as pd
import yaml
from omegaconf import OmegaConf

from m2dino.grouping import load_grouping, resolve_groups
from m2dino import runs
from m2dino.runs import run_path
from m2dino.registry import all_tasks, get_task

GROUPS = resolve_groups(load_grouping("clinical"))
UNIT_OF = {"single": lambda t: t, "clinical": lambda t: get_task(t).group, "all": lambda t: "all"}


def write_run(profile_root: Path, paradigm: str, unit: str, seed: int, values: dict[str, float],
              experiment: str = "main", n_train: dict[str, int] | None = None, source: str = "synthetic",
              per_image: dict[str, pd.DataFrame] | None = None, routing: dict | None = None,
              per_image_trivial: dict[str, pd.DataFrame] | None = None) -> Path:
    """One run folder with metrics.csv (primary metric of each task, plus a secondary row for realism)."""
    profile = profile_root.name
    d = run_path(profile_root, paradigm, unit, seed, experiment)
    d.mkdir(parents=True, exist_ok=True)
    rows = []
    for task, v in values.items():
        t = get_task(task)
        n = (n_train or {}).get(task, max(8, t.n_train // 100))
        rows.append(dict(profile=profile, paradigm=paradigm, unit=unit, seed=seed, task=task, type=t.type,
                         group=t.group, metric=t.primary_metric, value=v, ci_low=v - 0.01, ci_high=v + 0.01,
                         n_train=n, n_test=16))
        rows.append({**rows[-1], "metric": "secondary_x", "value": 0.5})
        triv = 0.1 if t.direction > 0 else 99.0
        if per_image_trivial and task in per_image_trivial:
            from m2dino.metrics import primary_from_per_image
            triv = primary_from_per_image(task, per_image_trivial[task])
        rows.append({**rows[-2], "paradigm": "trivial", "value": triv})
    pd.DataFrame(rows).to_csv(d / "metrics.csv", index=False)
    config = planned_config(profile, d.relative_to(profile_root)) or {
        "experiment": experiment, "seed": seed, "profile": {"name": profile}, "data": {}}
    config["data"]["source"] = source
    (d / runs.CONFIG).write_text(yaml.safe_dump(config))
    if per_image:
        pd.concat([df.assign(task=k) for k, df in per_image.items()], ignore_index=True).to_csv(
            d / "per_image.csv", index=False)
    if per_image_trivial:
        pd.concat([df.assign(task=k) for k, df in per_image_trivial.items()], ignore_index=True).to_csv(
            d / "per_image_trivial.csv", index=False)
    if routing is not None:
        import json
        (d / "routing.json").write_text(json.dumps(routing))
    runs.mark_done(d, config)  # finished under the config written (the plan's, where the plan has this run)
    return d


@functools.cache
def _planned(profile: str) -> dict[Path, dict]:
    from m2dino.study.plans import profile_plans
    from m2dino.study.schedule import planned

    if profile not in ("smoke", "demo", "paper"):
        return {}
    out = {}
    for p in planned(profile, profile_plans(profile, ["results_dir=/fixture"]), ["results_dir=/fixture"]):
        base = OmegaConf.to_container(p.cfg, resolve=True)
        for u, d in p.paths().items():
            out[d.relative_to(Path("/fixture") / profile)] = {**base, "unit": u, "tasks": p.units[u]}
    return out


def planned_config(profile: str, rel: Path) -> dict | None:
    """The resolved run config the profile's plans ask of the run folder ``rel`` (below ``results/<profile>``), so
    that a fabricated run counts as finished under today's config (``m2dino.study.current``); None
    when no plan has that folder (it is then judged by its own config)."""
    c = _planned(profile).get(Path(rel))
    return copy.deepcopy(c) if c is not None else None


def fabricate(profile_root: Path, value: Callable[[str, str, int], float], seeds: Iterable[int] = (0,),
              tasks: Iterable[str] | None = None, paradigms: Iterable[str] = ("single", "clinical", "all"),
              experiment: str = "main", n_train: Callable[[str], int] | None = None,
              per_image: Callable[[str, str, int], pd.DataFrame] | None = None,
              trivial: Callable[[str, int], pd.DataFrame] | None = None) -> None:
    """Runs of ``paradigms`` over ``tasks`` (all 27 by default), metric values from ``value(paradigm, task, seed)``;
    with ``per_image``, per-image tables too, and the trivial predictor's (``trivial(task, seed)``, by default
    :func:`scored_per_image` with ``trivial=True``)."""
    """Write runs of each paradigm for ``tasks`` (default all 27); ``value(paradigm, task, seed)`` is the primary
    metric, ``per_image(paradigm, task, seed)`` the per-image table (optional)."""
    tasks = list(tasks or [t.id for t in all_tasks()])
    for p in paradigms:
        units: dict[str, list[str]] = {}
        for t in tasks:
            units.setdefault(UNIT_OF[p](t), []).append(t)
        for unit, ids in units.items():
            for s in seeds:
                write_run(profile_root, p, unit, s, {t: value(p, t, s) for t in ids}, experiment=experiment,
                          n_train={t: n_train(t) for t in ids} if n_train else None,
                          per_image={t: per_image(p, t, s) for t in ids} if per_image else None,
                          per_image_trivial={t: (trivial or _trivial)(t, s) for t in ids} if per_image else None)


def _trivial(task: str, seed: int) -> pd.DataFrame:
    return scored_per_image(task, 0.0, seed, trivial=True)


def default_value(p: str, t: str, s: int) -> float:
    """A deterministic, task-dependent metric value for paradigm p (MRE in pixels, others in (0, 1))."""
    rng = np.random.default_rng(zlib.crc32(f"{p}/{t}/{s}".encode()))
    base = 20.0 if get_task(t).primary_metric == "mre" else 0.7
    return float(base * (1 + 0.1 * rng.standard_normal()))


def fabricate_everything(profile_root: Path, seeds: Iterable[int] = (0,)) -> None:
    """Main, data-scale (obstetrics and breast at 0.5), ablation and baseline runs, plus routing of the main AU model:
    every input the notebooks' figures read."""
    k = {"single": 0.0, "clinical": -0.2, "all": 0.05}

    def value(p: str, t: str, s: int, scale: float = 1.0) -> float:
        q = k[p] * scale + 0.01 * s
        return 10.0 * (1 - q) if get_task(t).primary_metric == "mre" else 0.6 * (1 + q)

    fabricate(profile_root, value, seeds=seeds)
    ds_tasks = GROUPS["obstetrics"] + GROUPS["breast"]
    fabricate(profile_root, lambda p, t, s: value(p, t, s, 2.0), seeds=seeds, tasks=ds_tasks,
              experiment="data_scale/frac0.5", n_train=lambda t: max(4, get_task(t).n_train // 200))
    for exp, scale in (("ablation_dense", 0.5), ("fmc_baseline", -1.0)):
        fabricate(profile_root, lambda p, t, s: value("all", t, s, scale), seeds=seeds, paradigms=("all",),
                  experiment=exp)
    rng = np.random.default_rng(0)
    routing = {t.id: {str(b): rng.integers(0, 100, 4).tolist() for b in (2, 3)} for t in all_tasks()}
    import json
    for s in seeds:
        (run_path(profile_root, "all", "all", s) / "routing.json").write_text(json.dumps(routing))


def scored_per_image(task: str, error: float, seed: int = 0, n: int = 24, trivial: bool = False) -> pd.DataFrame:
    """A per-image table made by ``m2dino.metrics.score_task`` from fabricated predictions whose error grows with
    ``error`` (0 = near perfect). The same images (paths, truths) for every model of a seed, so comparisons pair.
    ``trivial=True``: an image-blind prediction instead (empty mask, uniform class probabilities, a fixed box or
    fixed keypoints), as the trivial predictor would make."""
    from m2dino.metrics import score_task

    t = get_task(task)
    rng = np.random.default_rng(zlib.crc32(f"{task}/{seed}".encode()))
    noise = np.random.default_rng(zlib.crc32(f"{task}/{seed}/{error}".encode()))
    preds, targets = [], []
    for i in range(n):
        if t.type == "segmentation":
            y = np.zeros((32, 32), dtype=np.int64)
            r0, c0 = rng.integers(4, 12, 2)
            y[r0:r0 + 14, c0:c0 + 14] = 1 + i % (t.num_classes - 1)
            shift = int(round(error * 10 * noise.uniform(0.5, 1.5)))
            preds.append(np.zeros_like(y) if trivial else np.roll(y, shift, axis=1))
            targets.append(y)
        elif t.type == "classification":
            label = i % t.num_classes
            logits = noise.normal(0, 1, t.num_classes)
            logits[label] += 3 * (1 - error)
            preds.append(np.full(t.num_classes, 1 / t.num_classes) if trivial else np.exp(logits) / np.exp(logits).sum())
            targets.append(label)
        elif t.type == "detection":
            box = np.array([8, 8, 20, 22], dtype=float) + rng.integers(0, 6)
            preds.append(np.array([10, 10, 22, 24], float) if trivial else box + noise.normal(0, 1 + 6 * error, 4).clip(-6, 6))
            targets.append(box)
        else:
            pts = rng.uniform(5, 60, (t.num_classes, 2))
            preds.append(np.full(pts.shape, 32.0) if trivial else pts + noise.normal(0, 1 + 10 * error, pts.shape))
            targets.append(pts)
    _, df = score_task(task, preds, targets, image_paths=[f"{task}/img{i:03d}.png" for i in range(n)])
    return df


def fabricate_scored(profile_root: Path, seeds: Iterable[int] = (0,)) -> None:
    """Like ``fabricate_everything``, but every run has per-image tables scored by m2dino.metrics (slower; for
    exercising the notebooks' analysis cells without a trainer)."""
    import functools
    import json

    from m2dino.metrics import primary_from_per_image

    err = {"single": 0.2, "clinical": 0.35, "all": 0.15}

    @functools.cache
    def table(p: str, t: str, s: int, e: float = 0.0) -> pd.DataFrame:
        return scored_per_image(t, err[p] + e, s)

    def go(paradigms, tasks=None, experiment="main", e=0.0, as_paradigm=None):
        tab = lambda p, t, s: table(as_paradigm or p, t, s, e)  # noqa: E731
        fabricate(profile_root, lambda p, t, s: primary_from_per_image(t, tab(p, t, s)), seeds=seeds, tasks=tasks,
                  paradigms=paradigms, experiment=experiment, per_image=tab,
                  n_train=(lambda t: max(4, get_task(t).n_train // 200)) if experiment.startswith("data") else None)

    go(("single", "clinical", "all"))
    go(("single", "clinical", "all"), GROUPS["obstetrics"] + GROUPS["breast"], "data_scale/frac0.5", 0.1)
    go(("all",), experiment="ablation_dense", e=0.05)
    go(("all",), experiment="fmc_baseline", e=0.2)
    rng = np.random.default_rng(0)
    routing = {t.id: {str(b): rng.integers(0, 100, 4).tolist() for b in (2, 3)} for t in all_tasks()}
    for s in seeds:
        (run_path(profile_root, "all", "all", s) / "routing.json").write_text(json.dumps(routing))
