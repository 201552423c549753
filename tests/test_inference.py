"""The inference core (m2dino.analysis.inference) against hand computations and the textbook: leave-one-out metrics,
jackknife pseudo-values, the two-way ANOVA variance with Satterthwaite's degrees of freedom, combinations of tasks
that share seeds, Holm (against statsmodels) and its interval levels, and the noncentral-t MDE."""
import numpy as np
import pandas as pd
import pytest
from scipy.stats import nct
from scipy.stats import t as t_dist
from statsmodels.stats.multitest import multipletests

from m2dino.analysis.inference import (ALPHA, MIN_PRIOR_ROWS, Effects, Row, combine, fit_seed_prior, holm,
                                       holm_levels, jackknife, leave_one_out, mde, mde_factor, pseudo_values,
                                       satterthwaite, variance_components)
from m2dino.metrics.evaluate import primary_resampled, prob_columns


def _table(task: str, rng: np.random.Generator, n: int = 30) -> pd.DataFrame:
    paths = [f"{task}/img{i:03d}.png" for i in range(n)]
    if task in ("breast_2cls", "breast_3cls", "fetal_plane_cls"):
        c = {"breast_2cls": 2, "breast_3cls": 3, "fetal_plane_cls": 6}[task]
        labels = np.arange(n) % c
        labels[-1] = 0  # uneven classes
        p = rng.dirichlet(np.ones(c), n) + 0.5 * np.eye(c)[labels]
        p = np.round(p / p.sum(1, keepdims=True), 2)  # rounding makes ties, as real scores have
        return pd.DataFrame({"image_path": paths, "label": labels, **dict(zip(prob_columns(c), p.T))})
    col = {"breast_lesion": "dice", "FUGC": "mre", "thyroid_nodule_det": "iou"}[task]
    return pd.DataFrame({"image_path": paths, col: rng.uniform(0, 1, n)})


@pytest.mark.parametrize("task", ["breast_lesion", "FUGC", "thyroid_nodule_det", "breast_2cls", "breast_3cls",
                                  "fetal_plane_cls"])
def test_leave_one_out_matches_the_metric_on_each_subset(task):
    df = _table(task, np.random.default_rng(0))
    full, loo = leave_one_out(task, df)
    n = len(df)
    assert full == pytest.approx(primary_resampled(task, df, np.ones((1, n)))[0], abs=1e-12)
    np.testing.assert_allclose(loo, primary_resampled(task, df, 1 - np.eye(n)), atol=1e-12)


def test_a_class_of_one_image_drops_out_of_the_macro_auc_when_that_image_is_left_out():
    df = _table("breast_3cls", np.random.default_rng(1), n=13)
    df.loc[0, "label"] = 2
    df.loc[df.index[1:], "label"] = np.where(df["label"].iloc[1:] == 2, 1, df["label"].iloc[1:])
    full, loo = leave_one_out("breast_3cls", df)
    want = primary_resampled("breast_3cls", df, 1 - np.eye(len(df)))  # macro over the classes present
    np.testing.assert_allclose(loo, want, atol=1e-12)


def test_pseudo_values_of_a_mean_are_the_values_and_of_a_ratio_average_to_the_jackknife():
    x = np.array([0.2, 0.5, 0.9, 0.4])
    loo = (x.sum() - x) / 3
    np.testing.assert_allclose(pseudo_values(x.mean(), loo), x)
    rng = np.random.default_rng(2)
    ref, new = _table("breast_lesion", rng), _table("breast_lesion", rng)
    ps = jackknife("breast_lesion", {"ref": ref, "new": new}, lambda m: m["new"] / m["ref"])
    ratio = new["dice"].mean() / ref["dice"].mean()
    assert ps.mean() == pytest.approx(ratio, rel=0.05) and ps.shape == (len(ref),)


def _anova_by_hand(y):
    k, n = y.shape
    g, r, c = y.mean(), y.mean(1), y.mean(0)
    ms_seed = n * ((r - g) ** 2).sum() / (k - 1)
    ms_img = k * ((c - g) ** 2).sum() / (n - 1)
    ms_res = ((y - r[:, None] - c[None, :] + g) ** 2).sum() / ((k - 1) * (n - 1))
    return ms_seed, ms_img, ms_res


def test_one_task_variance_is_the_two_way_anova_with_satterthwaite_df():
    rng = np.random.default_rng(3)
    k, n = 3, 40
    y = 0.1 + rng.normal(0, 0.05, (k, 1)) + rng.normal(0, 0.2, (1, n)) + rng.normal(0, 0.1, (k, n))
    e = combine([Row((0, 1, 2), y.mean(1), y, "t")], [1.0])
    ms_seed, ms_img, ms_res = _anova_by_hand(y)
    assert e.estimate == pytest.approx(y.mean())
    assert e.se ** 2 == pytest.approx((ms_seed + ms_img - ms_res) / (k * n))
    terms = [(ms_seed / (k * n), k - 1), (ms_img / (k * n), n - 1), (-ms_res / (k * n), (k - 1) * (n - 1))]
    num = sum(c for c, _ in terms) ** 2
    assert e.df == pytest.approx(num / sum(c * c / d for c, d in terms))
    lo, hi = e.interval()
    assert hi - e.estimate == pytest.approx(t_dist.ppf(0.975, e.df) * e.se)
    assert e.p() == pytest.approx(2 * t_dist.sf(abs(e.estimate) / e.se, e.df))
    comps = variance_components(y)
    assert comps["var_resid"] == pytest.approx(ms_res) and comps["var_image"] == pytest.approx((ms_img - ms_res) / k)


def test_image_variance_below_zero_is_clipped_and_one_seed_counts_images_only():
    y = np.array([[0.2, 1.2, 0.2, 1.2], [1.0, 0.0, 1.0, 0.0]])  # image means all equal: MS_image 0 < MS_resid
    e = combine([Row((0, 1), y.mean(1), y, "t")], [1.0])
    assert e.se > 0 and e.se ** 2 == pytest.approx(np.var(y.mean(1), ddof=1) / 2) and e.df == pytest.approx(1.0)
    one = combine([Row((0,), y[:1].mean(1), y[:1], "t")], [1.0])
    assert one.basis.startswith("images only") and one.se ** 2 == pytest.approx(np.var(y[0], ddof=1) / 4)
    assert satterthwaite([(1.0, 2.0)]) == (1.0, 2.0)


def test_tasks_share_seeds_only_and_rows_of_one_task_combine_image_by_image():
    rng = np.random.default_rng(4)
    k, n = 4, 25
    shared = rng.normal(0, 0.3, (k, 1))  # one model per seed: both tasks move with it
    a = shared + rng.normal(0, 0.2, (k, n))
    b = shared + rng.normal(0, 0.2, (k, n + 5))
    ra, rb = Row(tuple(range(k)), a.mean(1), a, "a"), Row(tuple(range(k)), b.mean(1), b, "b")
    e = combine([ra, rb], [0.5, 0.5])
    per_seed = (a.mean(1) + b.mean(1)) / 2
    img = sum(0.25 * (_anova_by_hand(y)[1] - _anova_by_hand(y)[2]) / (k * y.shape[1]) for y in (a, b)
              if _anova_by_hand(y)[1] > _anova_by_hand(y)[2])
    assert e.se ** 2 == pytest.approx(np.var(per_seed, ddof=1) / k + img)
    # the same task's row minus itself: no variance at all (images are paired, not added up)
    same = combine([ra, Row(ra.seeds, ra.points, ra.x, "a")], [1.0, -1.0])
    assert same.estimate == 0.0 and same.se == 0.0 and same.p() == 1.0
    # only the common seeds enter
    short = combine([ra, Row((0, 1), b.mean(1)[:2], b[:2], "b")], [1.0, 1.0])
    assert short.n_seeds == 2


def test_holm_matches_statsmodels_and_its_levels_agree_with_it():
    rng = np.random.default_rng(5)
    for i in range(200):
        m = int(rng.integers(1, 30))
        p = rng.uniform(0, 1, m) ** 4
        if m > 2:
            p[1] = p[0]  # ties
        if i < 25:  # statsmodels runs gc.collect() on every call: seconds each in a large test process
            np.testing.assert_allclose(holm(p), multipletests(p, method="holm")[1])
        est = rng.normal(0, 1, m)
        se = np.abs(est) / np.maximum(t_dist.isf(p / 2, 3), 1e-12)  # so that p is the t test's p at df 3
        lv = holm_levels(p, holm(p))
        assert ((lv >= 1 - ALPHA - 1e-12) & (lv <= 1 - ALPHA / m + 1e-12)).all()
        excl = np.abs(est) > t_dist.ppf(0.5 + lv / 2, 3) * se
        np.testing.assert_array_equal(excl, holm(p) < ALPHA)
    out = holm([0.01, np.nan])
    assert out[0] == pytest.approx(0.01) and np.isnan(out[1])


def test_mde_is_the_noncentral_t_effect_with_80_percent_power():
    assert mde_factor(2) == pytest.approx(5.65, abs=0.01)   # K = 3 seeds, seed variance only (issue #23)
    assert mde_factor(4) == pytest.approx(3.76, abs=0.01)   # K = 5
    assert mde_factor(np.inf) == pytest.approx(2.80, abs=0.01)  # a known SE
    for df, alpha in ((2.0, ALPHA), (7.3, ALPHA / 12), (60.0, ALPHA / 27)):
        lam = mde_factor(df, alpha)
        crit = t_dist.ppf(1 - alpha / 2, df)
        assert nct.sf(crit, df, lam) + nct.cdf(-crit, df, lam) == pytest.approx(0.8, abs=2e-3)
    assert mde(0.01, 2) == pytest.approx(0.0565, abs=1e-4) and np.isnan(mde(np.nan, 2))
    from m2dino.analysis.inference import _mde_factor

    for df in np.geomspace(1.0, 5e4, 23):  # the spline against the root search (below 1 df: taken at 1)
        assert mde_factor(df, ALPHA / 12) == pytest.approx(_mde_factor(float(df), ALPHA / 12, 0.8), rel=2e-3)


# ---- the seed prior (empirical Bayes across rows) ------------------------------------------------------------------

def _rows(rng, sds, k=3, n=64, models=None, resid=0.1):
    """Rows with seed SDs ``sds`` (one each), shared image noise ``resid``; ``models[i]``: row i's models."""
    out = []
    for i, sd in enumerate(sds):
        y = rng.normal(0, sd, (k, 1)) + rng.normal(0, resid, (k, n))
        out.append(Row(tuple(range(k)), y.mean(1), y, f"t{i}", models[i] if models else (f"new{i}", f"ref{i}")))
    return out


def test_the_prior_recovers_a_common_seed_variance_and_a_spread_one():
    rng = np.random.default_rng(6)
    same = fit_seed_prior(_rows(rng, [0.05] * 400))
    want = 0.05 ** 2 + 0.1 ** 2 / 64  # the per-seed mean's variance: seed plus the images' own noise
    assert same.df > 20 and same.s2(_rows(rng, [0.05])[0]) == pytest.approx(want, rel=0.15)
    # variances drawn from a scaled inverse chi-square with 6 df: d0 is found near 6
    s2 = 0.05 ** 2 * 6 / rng.chisquare(6, 400)
    spread = fit_seed_prior(_rows(rng, np.sqrt(s2), resid=1e-3))
    assert 3 < spread.df < 12
    assert fit_seed_prior(_rows(rng, [0.05] * (MIN_PRIOR_ROWS - 1))) is None


def test_the_prior_moderates_each_seed_variance_toward_it():
    rng = np.random.default_rng(7)
    rows = _rows(rng, np.sqrt(0.05 ** 2 * 8 / rng.chisquare(8, 60)))
    prior = fit_seed_prior(rows)
    assert np.isfinite(prior.df)
    lo = min(rows, key=lambda r: np.var(r.points, ddof=1))
    hi = max(rows, key=lambda r: np.var(r.points, ddof=1))
    own_lo, own_hi = (float(np.var(r.points, ddof=1)) for r in (lo, hi))
    for row, own in ((lo, own_lo), (hi, own_hi)):
        p = prior.prior_variance([row], [1.0])
        s2, df = prior.moderate(own, 2.0, [row], [1.0])
        assert min(own, p) < s2 < max(own, p) and df == pytest.approx(prior.df + 2.0)
        assert s2 == pytest.approx((prior.df * p + 2 * own) / (prior.df + 2))
    # through Effects: the low row's interval is the moderated one, wider than without the prior
    eff = Effects(pd.DataFrame({"delta_s": [r.points.mean() for r in rows]}), rows)
    i = next(j for j, r in enumerate(rows) if r is lo)
    assert eff.estimate({i: 1.0}).se > combine([lo], [1.0]).se and eff.estimate({i: 1.0}).df > 4


def test_rows_that_share_a_model_pool_their_correlation_and_count_as_fewer():
    rng = np.random.default_rng(8)
    k, n, units, m = 3, 64, 20, 5
    rows = []
    for u in range(units):
        unit = rng.normal(0, 0.05, (k, 1))  # one CG model per seed: every row of the unit moves with it
        for i in range(m):
            y = unit + rng.normal(0, 0.05, (k, 1)) + rng.normal(0, 0.02, (k, n))
            rows.append(Row(tuple(range(k)), y.mean(1), y, f"t{u}.{i}", (f"cg/u{u}", f"ts/t{u}.{i}")))
    prior = fit_seed_prior(rows)
    assert 0.3 < prior.rho[(0, 0)] < 0.7 and (1, 1) not in prior.rho  # true 0.5
    independent = fit_seed_prior([Row(r.seeds, r.points, r.x, r.images, (f"a{j}", f"b{j}"))
                                  for j, r in enumerate(rows)])
    assert prior.df < independent.df or not np.isfinite(independent.df)  # correlated rows count as fewer
    unit0 = rows[:m]
    mean = [1.0 / m] * m
    alone = sum(prior.s2(r) for r in unit0) / m ** 2
    assert prior.prior_variance(unit0, mean) > 2 * alone  # the shared part does not average away
