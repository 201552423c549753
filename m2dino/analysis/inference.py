"""The one home of the analysis's inference: every interval, p-value, Holm adjustment and minimum detectable effect
of the tables, figures and verdicts comes from here (docs/analysis.md, "Inference"; its calibration by simulation:
``python -m m2dino calibrate``).

**The design.** The same test images are scored by every seed and every paradigm: seeds and images are *crossed*.
A task's paired effect (e.g. Δs of CG against TS) on seed s and image i follows the two-way random-effects model

    x_{s,i} = μ + a_s + b_i + e_{s,i},   Var(x̄) = σ_a²/K + σ_b²/n + σ_e²/(K n),

estimated from the two-way ANOVA mean squares: Var̂(x̄) = (MS_seed + MS_image − MS_resid)/(K n), with Satterthwaite's
degrees of freedom and a t quantile. At K = 3 seeds the seed term has 2 degrees of freedom, and the t quantile says so.

**Per-image values of any metric.** A metric that is not a mean over images (AUC), a ratio (the headroom score, the
relative change) or a difference of them becomes per-image values through the jackknife: with θ the statistic on
all n images of a seed and θ₋ᵢ without image i, the pseudo-value is n θ − (n − 1) θ₋ᵢ. For a mean (Dice, IoU, MRE
with a fixed reference) the pseudo-values are the per-image differences themselves; for AUC the leave-one-out values
come from DeLong's placement values, in closed form. One machinery then serves every metric.

**Combinations of tasks.** A group mean, a type mean, a contrast of two paradigms or a slope over data fractions is a
linear combination L = Σ_r w_r x̄_r of rows (experiment, paradigm, task). Images differ between tasks, so rows of
different tasks share only their seeds: per seed, L_s = Σ_r w_r x̄_{r,s}, and

    Var̂(L) = S²(L_s)/K + Σ_tasks (MS_image − MS_resid)(Y_t)/(K n_t),   Y_t = Σ_{r of task t} w_r X_r,

where S²(L_s) counts the seed variance with every covariance between tasks trained in one model (a CG or AU unit
is one model per seed), and the image terms count each task's image variance once (rows of one task, e.g. the same
task at two data fractions, are combined image by image first). Per-task bounds are never averaged.

**The seed term borrows strength across the rows (empirical Bayes).** At K = 3 a row's seed variance has 2 degrees
of freedom, and Satterthwaite's degrees of freedom estimated from that one draw fail in the far tail that Holm's
first step tests (α/m): when the draw's seed variance comes out small, its degrees of freedom jump with it, and the
test rejects too often (docs/analysis.md, "Why the seed variance is moderated"). As limma does for genes
(Smyth 2004), the per-seed variances of all rows of one analysis (one :class:`Effects`) fit a scaled inverse-χ² prior
(s₀², d₀) by the method of moments on their logs (:func:`fit_seed_prior`), and each estimate's seed variance becomes

    S̃² = (d₀ P + (K − 1) S²) / (d₀ + K − 1),   with d₀ + K − 1 degrees of freedom,

P = Σ w_r w_r' s₀(r) s₀(r') ρ_rr' the prior's variance of the combination (s₀²(r): the prior's scale, which
follows the row's own image noise, a linear trend in logs; ρ: 1 for a row with itself; for two rows that share a
trained model, the correlation of their per-seed values pooled over all such pairs of the analysis, by the models'
roles; 0 otherwise). Rows whose variances agree give a large d₀ (the seed variance is nearly known); rows whose
variances differ give a small d₀. d₀ is capped by the degrees of freedom the prior was pooled from (rows that share
a trained model count as fewer).

**What it assumes.** The moderated test is calibrated when the rows' seed variances, after the trend, spread as the
prior says (the calibration's regimes). A task whose seeds vary far more than its image noise predicts is pulled
toward the others and tested too liberally: in the calibration's heterogeneous stress world (each task's seed SD its
own, over a 4-fold range, unrelated to its image noise) the family-wise error is 0.09 at K = 3 and 0.06 at
K = 5 (``calibrate``). Two remedies measured and
not kept (docs/analysis.md): never lowering a row's own variance held that world near 0.06 but cut the power at
the printed MDE (0.53); keeping a high variance at the prior's degrees of freedom, between the two, held neither.
The A/A check (``aa_check.csv``) shows how the machinery behaves on the real runs.

With one seed the seed variance cannot be estimated: the interval counts the images only and says so
(``basis``), and no verdict is drawn from it.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

import numpy as np
import pandas as pd
from scipy import optimize, special
from scipy.stats import nct, norm
from scipy.stats import t as t_dist

from m2dino.metrics.evaluate import MEAN_COLUMN, probabilities
from m2dino.registry import get_task

ALPHA = 0.05  # two-sided level of every test
POWER = 0.8   # the power at which a minimum detectable effect is stated
LEVEL = 1 - ALPHA
SEEDS_AND_IMAGES = "seeds × images"
IMAGES_ONLY = "images only (1 seed: seed variance not estimable)"


# ---- per-image values --------------------------------------------------------------------------------------------

def leave_one_out(task_id: str, df) -> tuple[float, np.ndarray]:
    """The task's primary metric on all images of ``df`` and with each image left out ([n]), in closed form: a mean
    for Dice, IoU and MRE; DeLong's placement values for AUC (macro one-vs-rest over the classes present, as
    ``m2dino.metrics.classification.auc``; NaN where leaving the image out leaves its class without a positive)."""
    task = get_task(task_id)
    n = len(df)
    if n < 2:
        raise ValueError(f"task {task_id}: {n} image(s); leaving one out needs at least 2")
    if task.primary_metric != "auc":
        x = df[MEAN_COLUMN[task.primary_metric]].to_numpy(np.float64)
        total = x.sum()
        return float(total / n), (total - x) / (n - 1)
    labels = df["label"].to_numpy(np.int64)
    probs = probabilities(df, task.num_classes)
    classes = [1] if task.num_classes == 2 else [c for c in range(task.num_classes) if (labels == c).any()]
    full, loo = [], []
    for c in classes:
        f, lo = _auc_loo(labels == c, probs[:, c])
        full.append(f)
        loo.append(lo)
    with np.errstate(invalid="ignore"):
        loo_arr = np.vstack(loo)
        ok = np.isfinite(loo_arr)
        mean_loo = np.where(ok.any(0), np.nansum(np.where(ok, loo_arr, 0), 0) / np.maximum(ok.sum(0), 1), np.nan)
    return float(np.mean(full)), mean_loo


def _auc_loo(pos: np.ndarray, score: np.ndarray) -> tuple[float, np.ndarray]:
    """One-vs-rest AUC (ties count one half) and its leave-one-out values from placement values."""
    n1, n0 = int(pos.sum()), int((~pos).sum())
    if n1 == 0 or n0 == 0:
        return np.nan, np.full(len(pos), np.nan)
    neg_sorted, pos_sorted = np.sort(score[~pos]), np.sort(score[pos])
    # V10: share of negatives below each positive; V01: share of positives above each negative
    v10 = (np.searchsorted(neg_sorted, score[pos], "left") + np.searchsorted(neg_sorted, score[pos], "right")) / (2 * n0)
    v01 = (2 * n1 - np.searchsorted(pos_sorted, score[~pos], "left") - np.searchsorted(pos_sorted, score[~pos], "right")) / (2 * n1)
    auc = float(v10.mean())
    loo = np.empty(len(pos))
    with np.errstate(invalid="ignore", divide="ignore"):
        loo[pos] = (n1 * auc - v10) / (n1 - 1) if n1 > 1 else np.nan
        loo[~pos] = (n0 * auc - v01) / (n0 - 1) if n0 > 1 else np.nan
    return auc, loo


def pseudo_values(full: np.ndarray | float, loo: np.ndarray) -> np.ndarray:
    """Jackknife pseudo-values n θ − (n − 1) θ₋ᵢ of a statistic (``full``: θ, ``loo``: θ₋ᵢ over the last axis)."""
    loo = np.asarray(loo, dtype=np.float64)
    n = loo.shape[-1]
    return n * np.asarray(full, dtype=np.float64)[..., None] - (n - 1) * loo


# ---- the crossed model -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Row:
    """One effect (experiment, paradigm, task) seen through seeds and images: ``seeds`` [K] labels, ``points`` [K]
    the effect per seed (from the metrics), ``x`` [K, n] per-image pseudo-values (None without per-image tables),
    ``images``: the key of the image set (rows with the same key are scored on the same images), ``models``: the
    trained models whose per-seed scores make the effect, by role (e.g. (the CG unit's, the TS task's) run folder
    without its seed): rows that share a model move together over seeds, which the seed prior pools by role."""

    seeds: tuple[int, ...]
    points: np.ndarray
    x: np.ndarray | None
    images: str
    models: tuple[str, ...] = ()


@dataclass(frozen=True)
class Estimate:
    """A linear combination of rows: estimate, standard error, Satterthwaite degrees of freedom, and the variance
    terms it was built from (``terms``: (value, df) pairs, for the calibration's design figures)."""

    estimate: float
    se: float
    df: float
    n_seeds: int
    basis: str
    terms: tuple[tuple[float, float], ...] = field(default=(), repr=False)

    def interval(self, level: float = LEVEL) -> tuple[float, float]:
        """estimate ± t_{df} SE: the interval that excludes 0 exactly when :meth:`p` < 1 − level."""
        if not (np.isfinite(self.se) and np.isfinite(self.estimate)):
            return np.nan, np.nan
        q = t_quantile(0.5 + level / 2, self.df) * self.se
        return self.estimate - q, self.estimate + q

    def p(self) -> float:
        """Two-sided p-value of "the effect is 0"; with SE 0, 1 for an estimate of 0 and 0 otherwise."""
        if not (np.isfinite(self.se) and np.isfinite(self.estimate)):
            return np.nan
        if self.se == 0:
            return 1.0 if self.estimate == 0 else 0.0
        return float(2 * t_dist.sf(abs(self.estimate) / self.se, self.df))

    def mde(self, alpha: float = ALPHA, power: float = POWER) -> float:
        """The effect a two-sided test at ``alpha`` detects with ``power`` at this design (noncentral t)."""
        return mde(self.se, self.df, alpha, power)


NO_ESTIMATE = Estimate(np.nan, np.nan, np.nan, 0, "no estimate")


@dataclass
class Effects:
    """Effects of several (experiment, paradigm, task): ``points`` (one row each, the effect in ``column``) and
    ``rows`` (their seeds × images, in the same order). Any linear combination of them is an :meth:`estimate`."""

    points: pd.DataFrame
    rows: list[Row]
    column: str = "delta_s"

    def estimate(self, weights: Mapping[int, float]) -> Estimate:
        """Σ w_i effect_i over row indices i (weights 0 and rows without a finite effect are left out)."""
        vals = self.points[self.column].to_numpy(dtype=float)
        items = [(int(i), float(w)) for i, w in dict(weights).items() if w != 0 and np.isfinite(vals[int(i)])]
        if not items:
            return NO_ESTIMATE
        return combine([self.rows[i] for i, _ in items], [w for _, w in items], self.seed_prior)

    @cached_property
    def seed_prior(self) -> "SeedPrior | None":
        """The seed variances' prior, fitted once over every row of this analysis (:func:`fit_seed_prior`)."""
        return fit_seed_prior(self.rows)

    def mean(self, index: Sequence[int]) -> Estimate:
        """The mean effect of the rows ``index`` (those with a finite effect)."""
        vals = self.points[self.column].to_numpy(dtype=float)
        idx = [int(i) for i in index if np.isfinite(vals[int(i)])]
        return self.estimate({i: 1.0 / len(idx) for i in idx}) if idx else NO_ESTIMATE


def jackknife(task_id: str, tables: Mapping[str, pd.DataFrame], stat) -> np.ndarray:
    """Per-image pseudo-values of ``stat`` (a function of each table's primary metric, by name: floats for all
    images, arrays for each image left out) over the aligned per-image ``tables`` of one task and seed."""
    got = {k: leave_one_out(task_id, df) for k, df in tables.items()}
    with np.errstate(invalid="ignore", divide="ignore"):
        full = stat({k: v[0] for k, v in got.items()})
        loo = stat({k: v[1] for k, v in got.items()})
    return pseudo_values(full, loo)


def t_quantile(q: float, df: float) -> float:
    return float(norm.ppf(q)) if not np.isfinite(df) or df > 1e6 else float(t_dist.ppf(q, df))


def satterthwaite(terms: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """(variance, degrees of freedom) of a sum of mean-square terms (value, df): Σ c and (Σ c)² / Σ c²/df."""
    var = float(sum(c for c, _ in terms))
    den = sum(c * c / d for c, d in terms if d > 0 and c != 0)
    if var <= 0 or den == 0:
        return max(var, 0.0), np.inf
    return var, float(var * var / den)


def mean_squares(y: np.ndarray) -> tuple[float, float, float]:
    """MS_seed, MS_image and MS_resid of the two-way ANOVA without replication of pseudo-values [K, n] (K, n ≥ 2)."""
    k, n = y.shape
    row, col = y.mean(1), y.mean(0)
    ms_res = float(((y - row[:, None] - col[None, :] + y.mean()) ** 2).sum()) / ((k - 1) * (n - 1))
    return n * float(np.var(row, ddof=1)), k * float(np.var(col, ddof=1)), ms_res


def anova_terms(y: np.ndarray) -> list[tuple[float, float]]:
    """The image terms of Var(ȳ) for one image set: MS_image/(K n) and −MS_resid/(K n) with their degrees of freedom,
    both 0 when the image variance estimate is below 0 (clipped at 0: a 0 term adds nothing to the variance or to
    Satterthwaite's df, and keeps the list the same length for every draw); with K = 1, Var over images / n."""
    k, n = y.shape
    if n < 2:
        return []
    if k == 1:
        return [(float(np.var(y[0], ddof=1)) / n, n - 1.0)]
    _, ms_img, ms_res = mean_squares(y)
    if ms_img <= ms_res:
        return [(0.0, n - 1.0), (0.0, (k - 1.0) * (n - 1.0))]
    return [(ms_img / (k * n), n - 1.0), (-ms_res / (k * n), (k - 1.0) * (n - 1.0))]


def variance_components(y: np.ndarray) -> dict[str, float]:
    """σ̂²_seed, σ̂²_image, σ̂²_resid of one row's pseudo-values [K, n] (method of moments, clipped at 0; NaN where
    a component is not estimable)."""
    k, n = y.shape
    if k < 2 or n < 2:
        return {"var_seed": np.nan, "var_image": np.nan, "var_resid": np.nan}
    ms_seed, ms_img, ms_res = mean_squares(y)
    return {"var_seed": max((ms_seed - ms_res) / n, 0.0), "var_image": max((ms_img - ms_res) / k, 0.0),
            "var_resid": ms_res}


def combine(rows: Sequence[Row], weights: Sequence[float], prior: "SeedPrior | None" = None) -> Estimate:
    """Σ w_r x̄_r over the seeds every row has (see the module notes); NaN rows are left out by the caller. With a
    ``prior`` the seed term is moderated by it (module notes); without, it is the rows' own (K − 1 df)."""
    if not rows:
        return NO_ESTIMATE
    common = sorted(set.intersection(*(set(r.seeds) for r in rows)))
    k = len(common)
    if k == 0:
        return NO_ESTIMATE
    per_seed = np.zeros(k)
    images: dict[str, np.ndarray] = {}
    have_x = all(r.x is not None for r in rows)
    for r, w in zip(rows, weights):
        idx = [r.seeds.index(s) for s in common]
        per_seed += w * np.asarray(r.points, dtype=np.float64)[idx]
        if have_x:
            y = w * r.x[idx]
            if r.images in images and images[r.images].shape != y.shape:
                raise ValueError(f"rows of image set {r.images!r} have different numbers of images")
            images[r.images] = images[r.images] + y if r.images in images else y
    est = float(per_seed.mean())
    if not have_x:
        return Estimate(est, np.nan, np.nan, k, "no per-image tables")
    terms: list[tuple[float, float]] = []
    if k > 1:
        s2, d = float(np.var(per_seed, ddof=1)), k - 1.0
        if prior is not None:
            s2, d = prior.moderate(s2, d, rows, weights)
        terms.append((s2 / k, d))
    for y in images.values():
        y = y[:, np.isfinite(y).all(0)]
        terms += anova_terms(y)
    var, df = satterthwaite(terms)
    return Estimate(est, float(np.sqrt(var)), df, k, SEEDS_AND_IMAGES if k > 1 else IMAGES_ONLY, tuple(terms))


# ---- the seed variance's prior (empirical Bayes) ------------------------------------------------------------------

@dataclass(frozen=True)
class SeedPrior:
    """Scaled inverse-χ² prior of the rows' per-seed variances: degrees of freedom ``df`` (d₀; ∞ when the rows'
    variances spread no more than sampling alone makes them) and a scale that follows each row's own image noise,
    log s₀²(row) = ``b0`` + ``b1`` log(MS_resid/n) + ψ(d₀/2) − log(d₀/2) (the trend of limma-trend, linear: a metric
    whose per-image values are noisier, or a task with fewer images, has a larger seed variance too); ``rho``: the
    pooled correlation of the per-seed values of two rows that share a trained model, by (role in one row, role in
    the other)."""

    b0: float
    b1: float
    df: float
    rho: Mapping[tuple[int, int], float]
    n_rows: int

    def s2(self, row: Row) -> float:
        """s₀² of one row (NaN without per-image values on 2+ seeds)."""
        c = _noise(row)
        if not np.isfinite(c):
            return np.nan
        shift = 0.0 if not np.isfinite(self.df) else special.digamma(self.df / 2) - np.log(self.df / 2)
        return float(np.exp(self.b0 + self.b1 * c + shift))

    def prior_variance(self, rows: Sequence[Row], weights: Sequence[float]) -> float:
        """P = Σ w_r w_r' s₀(r) s₀(r') ρ_rr' of the combination (module notes)."""
        w = np.asarray(weights, dtype=float) * np.sqrt([self.s2(r) for r in rows])
        q = float((w * w).sum())
        for a in range(len(rows)):
            for b in range(a + 1, len(rows)):
                r = _shared_rho(rows[a], rows[b], self.rho)
                if r:
                    q += 2 * w[a] * w[b] * r
        return q

    def moderate(self, s2: float, d: float, rows: Sequence[Row], weights: Sequence[float]) -> tuple[float, float]:
        """(S̃², d₀ + d) for a combination whose own per-seed variance is ``s2`` on ``d`` degrees of freedom (module
        notes); its own (``s2``, ``d``) where the prior gives it no variance."""
        p = self.prior_variance(rows, weights)
        if not (np.isfinite(p) and p > 0):
            return s2, d
        if not np.isfinite(self.df):
            return p, np.inf
        return (self.df * p + d * s2) / (self.df + d), self.df + d


def _noise(row: Row) -> float:
    """log(MS_resid / n) of a row's pseudo-values: the seed-to-seed variance its images alone give its mean."""
    if row.x is None or row.x.shape[0] < 2:
        return np.nan
    y = row.x[:, np.isfinite(row.x).all(0)]
    if y.shape[1] < 2:
        return np.nan
    ms_res = mean_squares(y)[2]
    return float(np.log(ms_res / y.shape[1])) if ms_res > 0 else np.nan


def _roles(a: Row, b: Row) -> list[tuple[int, int]]:
    return [(i, j) for i, ma in enumerate(a.models) for j, mb in enumerate(b.models) if ma == mb]


def _shared_rho(a: Row, b: Row, rho: Mapping[tuple[int, int], float]) -> float:
    """The prior correlation of two rows' per-seed values: the pooled ρ of the roles in which they share a model."""
    return float(sum(rho.get(tuple(sorted(r)), 0.0) for r in _roles(a, b)))


def _trigamma_inverse(x: float) -> float:
    """y with ψ'(y) = x (ψ' decreases from ∞ to 0 on (0, ∞))."""
    return float(optimize.brentq(lambda y: float(special.polygamma(1, y)) - x, 1e-8, 1e8, xtol=1e-12, rtol=1e-10))


MIN_PRIOR_ROWS = 5       # fewer rows with a seed variance: no prior (each estimate keeps its own K − 1 df)
TREND_MIN_SPREAD = 0.05  # SD of the rows' log image noise below which the prior's scale is one constant


def fit_seed_prior(rows: Sequence[Row]) -> SeedPrior | None:
    """The prior of the per-seed variances S²_r (d_r = K_r − 1 df) of the rows with per-image values, 2+ seeds and
    a finite effect, by the method of moments on log S² (Smyth 2004, limma's ``fitFDist`` with a linear trend):
    e_r = log S²_r − ψ(d_r/2) + log(d_r/2) regressed on the row's image noise log(MS_resid/n) (intercept only
    when that hardly varies); residual variance − mean ψ'(d_r/2) = ψ'(d₀/2). None with fewer than
    :data:`MIN_PRIOR_ROWS` such rows. ρ by role: Σ cov_ab / Σ S_a S_b over the pairs of rows that share a model in
    those roles (on their common seeds), clipped to [−1, 1]."""
    ok = [r for r in rows if r.x is not None and len(r.seeds) > 1 and np.isfinite(r.points).all()
          and np.isfinite(_noise(r))]
    if len(ok) < MIN_PRIOR_ROWS:
        return None
    s2 = np.array([np.var(np.asarray(r.points, float), ddof=1) for r in ok])
    d = np.array([len(r.seeds) - 1.0 for r in ok])
    pos = s2[s2 > 0]
    if pos.size < MIN_PRIOR_ROWS:
        return None
    s2 = np.maximum(s2, 1e-4 * float(np.median(pos)))  # a zero variance (identical seeds) has no log: floor it
    e = np.log(s2) - special.digamma(d / 2) + np.log(d / 2)
    c = np.array([_noise(r) for r in ok])
    trend = np.std(c) > TREND_MIN_SPREAD
    a = np.column_stack([np.ones_like(c), c]) if trend else np.ones((len(c), 1))
    coef, *_ = np.linalg.lstsq(a, e, rcond=None)
    resid = e - a @ coef
    excess = float((resid ** 2).sum() / (len(e) - a.shape[1]) - np.mean(special.polygamma(1, d / 2)))
    d0 = 2 * _trigamma_inverse(excess) if excess > 0 else np.inf
    rho, pairs = _pooled_rho(ok)
    # the prior is no surer than the variances it was pooled from: rows that share a model have correlated S²
    # (corr ρ²), so the N rows count as N / (1 + (N − 1) mean ρ²) independent ones (a shared CG or AU unit's own seed
    # spread is one draw, whatever the number of its tasks), less the coefficients fitted
    n = len(ok)
    mean_rho2 = sum(cnt * rho.get(k, 0.0) ** 2 for k, cnt in pairs.items()) / (n * (n - 1) / 2)
    d_pooled = float(d.sum()) / (1 + (n - 1) * mean_rho2) - a.shape[1]
    d0 = float(min(d0, max(d_pooled, 1.0)))
    return SeedPrior(float(coef[0]), float(coef[1]) if trend else 0.0, d0, rho, n)


def _pooled_rho(rows: Sequence[Row]) -> tuple[dict[tuple[int, int], float], dict[tuple[int, int], int]]:
    """ρ by role (see :func:`fit_seed_prior`) and the number of pairs of rows behind each."""
    by_model: dict[str, list[tuple[int, int]]] = {}
    for i, r in enumerate(rows):
        for role, m in enumerate(r.models):
            by_model.setdefault(m, []).append((i, role))
    cov: dict[tuple[int, int], float] = {}
    scale: dict[tuple[int, int], float] = {}
    count: dict[tuple[int, int], int] = {}
    for members in by_model.values():  # each (row, role) is in one model's list: every pair comes once
        for x in range(len(members)):
            for y in range(x + 1, len(members)):
                (i, ri), (j, rj) = members[x], members[y]
                if i == j:  # one row with the same model in two roles
                    continue
                a, b = rows[i], rows[j]
                common = sorted(set(a.seeds) & set(b.seeds))
                if len(common) < 2:
                    continue
                pa = np.asarray(a.points, float)[[a.seeds.index(s) for s in common]]
                pb = np.asarray(b.points, float)[[b.seeds.index(s) for s in common]]
                key = tuple(sorted((ri, rj)))
                count[key] = count.get(key, 0) + 1
                cov[key] = cov.get(key, 0.0) + float(np.cov(pa, pb)[0, 1])
                scale[key] = scale.get(key, 0.0) + float(np.std(pa, ddof=1) * np.std(pb, ddof=1))
    rho = {k: float(np.clip(cov[k] / scale[k], -1, 1)) for k in cov if scale[k] > 0}
    return rho, {k: count[k] for k in rho}


# ---- tests, families, power --------------------------------------------------------------------------------------

def holm(p: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm-adjusted p-values: sorted ascending, the k-th (from 1) times m − k + 1, made non-decreasing, capped at 1
    (what statsmodels ``multipletests(method='holm')`` returns, which the tests check; computed here because that
    function runs the garbage collector on every call). NaN stays NaN, out of the family."""
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    if ok.size:
        order = ok[np.argsort(p[ok], kind="stable")]
        m = ok.size
        out[order] = np.minimum(np.maximum.accumulate(p[order] * np.arange(m, 0, -1)), 1.0)
    return out


def holm_levels(p: np.ndarray, p_holm: np.ndarray) -> np.ndarray:
    """Each test's Holm-adjusted interval level 1 − α p / p_Holm, between 1 − α/m and 1 − α: the interval excludes 0
    exactly when the Holm-adjusted p-value is below α (m: the tests with a p-value)."""
    p, p_holm = np.asarray(p, float), np.asarray(p_holm, float)
    m = max(int(np.isfinite(p).sum()), 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mult = np.where((p > 0) & np.isfinite(p_holm), p_holm / p, m)
    return 1 - ALPHA / np.clip(mult, 1, m)


@lru_cache(maxsize=4096)
def _mde_factor(df: float, alpha: float, power: float) -> float:
    """λ with P(|T'_{df, λ}| > t_{1-α/2, df}) = power (T' noncentral t); the normal-theory value for df = ∞."""
    if not np.isfinite(df) or df > 1e5:
        return float(norm.ppf(1 - alpha / 2) + norm.ppf(power))
    crit = float(t_dist.ppf(1 - alpha / 2, df))

    def short(lam: float) -> float:  # the far tail can come back NaN from scipy where it is 0
        return float(np.nan_to_num(nct.sf(crit, df, lam)) + np.nan_to_num(nct.cdf(-crit, df, lam))) - power

    hi = 10.0
    while short(hi) < 0:
        if hi > 1e6:  # no noncentrality reaches the power (the far tails failed): no detectable effect
            return np.inf
        hi *= 2
    return float(optimize.brentq(short, 0.0, hi, xtol=1e-7))


_DF_GRID = np.unique(np.concatenate([np.geomspace(1, 5, 16), np.geomspace(5, 1e5, 20)]))


@lru_cache(maxsize=64)
def _factor_spline(alpha: float, power: float):
    """A cubic spline of log λ against log df through :data:`_DF_GRID`, once per level (tens of solves)."""
    from scipy.interpolate import CubicSpline

    return CubicSpline(np.log(_DF_GRID), np.log([_mde_factor(float(d), alpha, power) for d in _DF_GRID]))


def mde_factor(df: float, alpha: float = ALPHA, power: float = POWER) -> float:
    """:func:`_mde_factor` from the spline of its level (relative error below 2e-3, tested; df below 1 taken as 1):
    the same value whatever was computed before, and microseconds instead of a root search per call."""
    if not np.isfinite(df) or df >= _DF_GRID[-1]:
        return _mde_factor(np.inf, float(alpha), float(power))
    # below 1 degree of freedom (a variance estimate mostly noise: Satterthwaite on a near-cancelling difference of
    # mean squares) the MDE is taken at 1 df: it is a design figure, and the noncentral t is unstable there
    return float(np.exp(_factor_spline(float(alpha), float(power))(np.log(max(float(df), 1.0)))))


def mde(se: float, df: float, alpha: float = ALPHA, power: float = POWER) -> float:
    """Minimum detectable effect: the true effect a two-sided t test at ``alpha`` with ``df`` degrees of freedom
    rejects with probability ``power`` (noncentral t), times the standard error."""
    if not (np.isfinite(se) and se >= 0) or not df > 0:
        return np.nan
    return mde_factor(df, alpha, power) * se


# ---- resampling over tasks ---------------------------------------------------------------------------------------

def task_resamples(n_tasks: int, n_boot: int, seed: int = 0) -> np.ndarray:
    """[n_boot, n_tasks] indices of tasks drawn with replacement: the one generator of the bootstraps *over tasks*
    (a rank correlation across tasks, the guideline's cells), where the tasks are the sample."""
    return np.random.default_rng(seed).integers(0, n_tasks, size=(n_boot, n_tasks))


def percentile_interval(values: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    """Percentile interval of the finite values (NaN when none)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return np.nan, np.nan
    lo, hi = np.percentile(v, [50 * (1 - level), 100 - 50 * (1 - level)])
    return float(lo), float(hi)
