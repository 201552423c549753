"""Simulated results with known true effects, in the shape the analysis reads: a tidy table (as
``m2dino.analysis.tidy.tidy_results`` returns it) and per-image tables (as ``read_per_image`` returns them), held in
memory or written as run folders (docs/run-folder.md). The calibration (``m2dino.analysis.calibration``) puts them
through the real analysis, from the tidy table on; nothing here computes a statistic of the analysis.

The generative model mirrors the study's design: K seeds, n test images per task that every seed and paradigm
scores (crossed), paradigms TS (``single``), CG (``clinical``) and AU (``all``), 27 tasks in their clinical groups.
On the headroom scale, the paired effect of paradigm p against TS on task t, seed s and image i is

    Δ_{s,i} = μ + a_s + b_i + e_{s,i}

with a_s the seed effect (SD ``seed_sd``), b_i the image effect that persists across seeds (``image_sd``) and e the
seed × image interaction (``resid_sd``). Each model (paradigm, seed) gets half of each variance, so a paired
difference has the full one; a CG or AU model shares ``unit_share`` of its seed variance among the tasks it trains
(one trained model per unit and seed), TS models do not. Runs at different data-scale fractions are different
trainings (independent seed effects) on the same test images (image effects correlated 0.5 across fractions).

- Dice, IoU and MRE tasks: per-image scores q = base + u_i + (effects); Dice = IoU = q, MRE = 1 - q, the trivial
  predictor scores 0 (Dice, IoU) and 1 (MRE), so s = q and Δs is exactly the mean of the per-image Δ.
- Binary AUC tasks: the class-1 score is σ(z), z = y (m + a'_s) + c_i + β b'_i + γ e'_{s,i} on a latent scale
  (c_i shared by every model), so AUC = Φ((m + a')/S), S² = 2 (1 + β² + γ²), and the true Δs = 2 (E AUC_p − E AUC_TS)
  is known in closed form; a' is scaled so that the seed SD of Δs matches ``seed_sd`` to first order, β and γ follow
  ``image_sd`` and ``resid_sd``.
- Multi-class AUC tasks: the same latent scores per class, turned into probabilities by softmax (they must sum to 1
  for the challenge's AUC); macro one-vs-rest AUC has no closed form then, so these tasks carry no effect in any
  world (paradigm and TS are exchangeable: the truth is exactly 0) and :func:`feasible_delta` says so.
"""
from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import OmegaConf
from scipy.stats import norm

from m2dino.analysis.tidy import METRICS_COLUMNS, PER_IMAGE, PER_IMAGE_TRIVIAL, TRIVIAL
from m2dino.metrics.classification import auc_weighted
from m2dino.metrics.evaluate import prob_columns
from m2dino import runs
from m2dino.runs import MAIN, run_path
from m2dino.registry import all_tasks, get_task

PROFILE = "simulation"
BASE = {"dice": 0.6, "iou": 0.5, "mre": 0.6}   # mean per-image score q of TS (MRE = 1 - q)
IMAGE_DIFFICULTY_SD = 0.1                      # u_i: shared by every model, cancels in a paired difference
AUC_MARGIN = 1.9                               # latent margin m of TS: one-vs-rest AUC about 0.8
LATENT_REF_SD = 0.25                           # β = image_sd / 0.25, γ = resid_sd / 0.25 (capped at 1.5)
FRACTION_IMAGE_CORR = 0.5                      # correlation of a model's image effects across data-scale fractions
UNIT_OF = {"single": lambda t: t, "clinical": lambda t: get_task(t).group, "all": lambda t: "all"}


@dataclass(frozen=True)
class Regime:
    """Variance components of a task's paired Δs (paradigm vs TS), on the headroom scale."""

    name: str
    seed_sd: float
    image_sd: float
    resid_sd: float
    unit_share: float = 0.5          # share of a CG/AU model's seed variance common to the tasks of its unit
    per_task: Mapping[str, tuple[float, float, float]] = field(default_factory=dict)  # task -> (seed, image, resid)

    def sds(self, task: str) -> tuple[float, float, float]:
        return tuple(self.per_task.get(task, (self.seed_sd, self.image_sd, self.resid_sd)))


@dataclass(frozen=True)
class Design:
    """What was run: seeds, test images per task, and per experiment the paradigms and tasks."""

    seeds: tuple[int, ...]
    n_images: int
    experiments: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]]  # experiment -> (paradigms, tasks)

    @staticmethod
    def study(k: int, n_images: int, data_scale: Mapping[float, Sequence[str]] | None = None,
              tasks: Sequence[str] | None = None, paradigms: Sequence[str] = ("single", "clinical", "all"),
              first_seed: int = 0) -> "Design":
        """The main experiment over ``tasks`` (all 27), and data-scale experiments (fraction -> tasks, TS and CG)."""
        ids = tuple(tasks or [t.id for t in all_tasks()])
        exps = {MAIN: (tuple(paradigms), ids)}
        for f, ts in (data_scale or {}).items():
            exps[f"data_scale/frac{f:g}"] = (("single", "clinical"), tuple(ts))
        return Design(tuple(range(first_seed, first_seed + k)), int(n_images), exps)


Effects = Callable[[str, str, str], float]  # (experiment, paradigm, task) -> true Δs against TS


def no_effect(experiment: str, paradigm: str, task: str) -> float:
    return 0.0


@dataclass
class Simulated:
    """One simulated replicate: ``tidy`` (primary-metric rows, as ``tidy_results``), the per-image tables by
    (run folder, file name) and the true effects (experiment, paradigm, task, delta_true)."""

    tidy: pd.DataFrame
    tables: dict[tuple[str, str], dict[str, pd.DataFrame]]
    truth: pd.DataFrame

    def reader(self, run_dir: Path | str, task: str, name: str = PER_IMAGE) -> pd.DataFrame:
        """Drop-in for ``m2dino.analysis.tidy.read_per_image``."""
        return self.tables[(str(run_dir), name)][task]

    def write(self, profile_root: Path) -> Path:
        """The same runs as run folders under ``profile_root`` (whose name must be the profile ``simulation``), to
        be read back by ``tidy_results`` and ``read_per_image``."""
        profile_root = Path(profile_root)
        if profile_root.name != PROFILE:
            raise ValueError(f"{profile_root}: simulated runs go under a folder named {PROFILE!r}")
        tidy = self.tidy
        for run_dir, rows in tidy[tidy["paradigm"] != TRIVIAL].groupby("run_dir", sort=False):
            d = profile_root / Path(run_dir)
            rc = OmegaConf.create({"experiment": str(rows["experiment"].iloc[0]), "seed": int(rows["seed"].iloc[0]),
                                   "tasks": sorted(set(rows["task"])), "data": {"source": "simulation"}})
            runs.start(d, rc)  # a run folder's life as m2dino.runs owns it: config and STARTED, tables, DONE last
            triv = tidy[(tidy["paradigm"] == TRIVIAL) & (tidy["experiment"] == rows["experiment"].iloc[0])
                        & (tidy["seed"] == rows["seed"].iloc[0]) & tidy["task"].isin(rows["task"])]
            out = pd.concat([rows, triv.assign(unit=TRIVIAL)], ignore_index=True)[list(METRICS_COLUMNS)]
            runs.write_table(d, runs.METRICS, out)
            for name in (PER_IMAGE, PER_IMAGE_TRIVIAL):
                tabs = self.tables.get((run_dir, name))
                if tabs:
                    runs.write_table(d, name, pd.concat([t.assign(task=k) for k, t in tabs.items()], ignore_index=True))
            runs.mark_done(d, rc)  # finished under its own config, as m2dino.runs judges a folder outside every plan
        return profile_root


def _auc_scale(m: float, s_total: float) -> float:
    """dΔs/da' at the TS margin: Δs = 2 AUC, AUC = Φ(a'/S)."""
    return 2 * norm.pdf(m / s_total) / s_total


def _latent(image_sd: float, resid_sd: float) -> tuple[float, float]:
    return min(image_sd / LATENT_REF_SD, 1.5), min(resid_sd / LATENT_REF_SD, 1.5)


@lru_cache(maxsize=256)
def _auc_setup(sd_a: float, sd_b: float, sd_e: float) -> tuple[float, float, float, float]:
    """(β, γ, S, SD of a model's latent seed effect) of an AUC task under these variance components."""
    beta, gamma = _latent(sd_b, sd_e)
    s_total = float(np.sqrt(2 * (1 + beta ** 2 + gamma ** 2)))
    return beta, gamma, s_total, float(np.sqrt(0.5) * sd_a / _auc_scale(AUC_MARGIN, s_total))


def feasible_delta(task_id: str, delta: float, sds: tuple[float, float, float]) -> float:
    """The true Δs the simulation gives a task asked for ``delta``: any for Dice, IoU and MRE; for a binary AUC task
    kept to an expected AUC in [0.52, 0.98]; 0 for a multi-class AUC task (module notes)."""
    task = get_task(task_id)
    if task.primary_metric != "auc":
        return float(delta)
    if task.num_classes > 2:
        return 0.0
    _, _, s_total, a_sd = _auc_setup(*sds)
    auc_ts = norm.cdf(AUC_MARGIN / np.sqrt(s_total ** 2 + a_sd ** 2))
    return float(np.clip(delta, 2 * (0.52 - auc_ts), 2 * (0.98 - auc_ts)))


def auc_margin_for(delta: float, seed_var_latent: float, s_total: float) -> float:
    """The latent margin of a paradigm whose true Δs against TS (margin AUC_MARGIN) is ``delta``:
    E AUC = Φ(m / √(S² + Var a')) on both sides."""
    sd = np.sqrt(s_total ** 2 + seed_var_latent)
    target = norm.cdf(AUC_MARGIN / sd) + delta / 2
    if not 0.5 < target < 1:
        raise ValueError(f"a true Δs of {delta} moves the AUC to {target:.3f}, outside (0.5, 1)")
    return float(norm.ppf(target) * sd)


def simulate(design: Design, regime: Regime, effects: Effects = no_effect, seed: int = 0) -> Simulated:
    """One replicate of every run of ``design`` under ``regime``, with the true effects ``effects``."""
    rng = np.random.default_rng(seed)
    n, seeds = design.n_images, design.seeds
    rows, tables, truth = [], {}, []
    all_tasks_ = sorted({t for _, ts in design.experiments.values() for t in ts})
    # per task: image difficulty, labels, and each paradigm's persistent image effects (shared part across fractions)
    img = {t: _image_draws(t, rng, n) for t in all_tasks_}
    persistent = {(p, t): rng.standard_normal(img[t]["shape"]) for t in all_tasks_ for p in ("single", "clinical", "all")}
    for exp, (paradigms, tasks) in design.experiments.items():
        unit_draws = {(p, u, s): rng.standard_normal() for p in paradigms for s in seeds
                      for u in sorted({UNIT_OF[p](t) for t in tasks})}
        for p in paradigms:
            for t in tasks:
                task = get_task(t)
                sd_a, sd_b, sd_e = regime.sds(t)
                share = 0.0 if p == "single" else regime.unit_share
                own = np.sqrt(FRACTION_IMAGE_CORR) * persistent[(p, t)] + np.sqrt(1 - FRACTION_IMAGE_CORR) * \
                    rng.standard_normal(img[t]["shape"])
                delta = 0.0 if p == "single" else feasible_delta(t, float(effects(exp, p, t)), (sd_a, sd_b, sd_e))
                truth.append({"experiment": exp, "paradigm": p, "task": t, "delta_true": delta})
                for s in seeds:
                    z_seed = np.sqrt(share) * unit_draws[(p, UNIT_OF[p](t), s)] + np.sqrt(1 - share) * rng.standard_normal()
                    noise = rng.standard_normal(img[t]["shape"])
                    run = _run(p, UNIT_OF[p](t), s, exp)
                    df, value = _model_table(task, img[t], delta, z_seed, own, noise, sd_a, sd_b, sd_e)
                    tables.setdefault((run, PER_IMAGE), {})[t] = df
                    rows.append(_row(exp, p, UNIT_OF[p](t), s, task, value, run, n))
                    if p == "single":
                        tables.setdefault((run, PER_IMAGE_TRIVIAL), {})[t] = img[t]["trivial"]
                        rows.append(_row(exp, TRIVIAL, TRIVIAL, s, task, img[t]["trivial_value"], run, n))
    tidy = pd.DataFrame(rows)
    tidy = tidy.sort_values(["experiment", "paradigm", "unit", "seed", "task"], kind="stable").reset_index(drop=True)
    return Simulated(tidy, tables, pd.DataFrame(truth))


@lru_cache(maxsize=65536)
def _run(paradigm: str, unit: str, seed: int, experiment: str) -> str:
    return str(run_path(Path(""), paradigm, unit, seed, experiment))


def _image_draws(t: str, rng: np.random.Generator, n: int) -> dict:
    task = get_task(t)
    paths = pd.array([f"{t}/img{i:04d}.png" for i in range(n)], dtype="str")  # built once, shared by every table
    if task.primary_metric == "auc":
        c = task.num_classes
        labels = rng.permutation(np.arange(n) % c)
        shared = rng.standard_normal((n, c))
        triv = pd.DataFrame({"image_path": paths, "label": labels, "pred": 0, "correct": (labels == 0).astype(int),
                             **{k: np.full(n, 1.0 / c) for k in prob_columns(c)}})
        return {"paths": paths, "labels": labels, "shared": shared, "shape": (n, c), "trivial": triv,
                "trivial_value": 0.5}
    col = task.primary_metric
    u = rng.normal(0, IMAGE_DIFFICULTY_SD, n)
    floor = 1.0 if col == "mre" else 0.0
    triv = pd.DataFrame({"image_path": paths, col: np.full(n, floor)})
    return {"paths": paths, "u": u, "shape": (n,), "trivial": triv, "trivial_value": floor}


def _model_table(task, im: dict, delta: float, z_seed: float, own: np.ndarray, noise: np.ndarray, sd_a: float,
                 sd_b: float, sd_e: float) -> tuple[pd.DataFrame, float]:
    """One model's per-image table of one task, and its primary metric (what its ``metrics.csv`` would say)."""
    h = np.sqrt(0.5)  # each model carries half of each variance of the paired difference
    metric = task.primary_metric
    if metric != "auc":
        q = BASE[metric] + im["u"] + delta + h * (sd_a * z_seed + sd_b * own + sd_e * noise)
        v = 1 - q if metric == "mre" else q
        return pd.DataFrame({"image_path": im["paths"], metric: v}), float(v.mean())
    beta, gamma, s_total, a_sd = _auc_setup(sd_a, sd_b, sd_e)
    m = AUC_MARGIN if delta == 0 else auc_margin_for(delta, a_sd ** 2, s_total)
    c = im["shape"][1]
    z = np.eye(c)[im["labels"]] * (m + a_sd * z_seed) + im["shared"] + beta * own + gamma * noise
    if c == 2:  # the class-1 column is σ(z1): its AUC is Φ((m + a')/S)
        p1 = 1 / (1 + np.exp(-z[:, 1]))
        probs = np.stack([1 - p1, p1], axis=1)
    else:
        e = np.exp(z - z.max(1, keepdims=True))
        probs = e / e.sum(1, keepdims=True)
    pred = probs.argmax(1)
    cols = {"image_path": im["paths"], "label": im["labels"], "pred": pred,
            "correct": (pred == im["labels"]).astype(int)}
    cols.update(zip(prob_columns(im["shape"][1]), probs.T))
    return pd.DataFrame(cols), float(auc_weighted(im["labels"], probs, np.ones((1, len(pred))))[0])


def _row(exp: str, p: str, unit: str, s: int, task, value: float, run: str, n: int) -> dict:
    return {"experiment": exp, "profile": PROFILE, "paradigm": p, "unit": unit, "seed": int(s), "task": task.id,
            "type": task.type, "group": task.group, "metric": task.primary_metric, "value": value,
            "ci_low": np.nan, "ci_high": np.nan, "n_train": 100, "n_test": n, "is_primary": True,
            "direction": task.direction, "run_dir": run}


def replicate_seed(*parts: object) -> int:
    """A stable RNG seed from labels (world, regime, K, replicate)."""
    return zlib.crc32("/".join(map(str, parts)).encode())
