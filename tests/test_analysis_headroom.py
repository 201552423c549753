"""Headroom score, Δs with intervals from the crossed seed × image model, the beats-trivial criterion, and the
evidence the verdicts read, on hand-made per-image tables and fabricated run folders (no training). The verdict rules
themselves: tests/test_verdict_rules.py; the inference core: tests/test_inference.py."""
import numpy as np
import pandas as pd
import pytest
from analysis_fixtures import write_run

from m2dino.analysis.delta_s import PooledEvidenceError, aggregate, task_table, two_stage
from m2dino.metrics.headroom import headroom_score
from m2dino.analysis.tidy import tidy_results
from m2dino.analysis.verdicts import PROTOCOL, VERDICTS, row_tests, verdict_table
from m2dino.metrics import primary_from_per_image
from m2dino.metrics.bootstrap import beats_trivial
from m2dino.registry import get_task

N = 20


def table(task: str, values, n: int = N) -> pd.DataFrame:
    """A per-image table of ``n`` images; ``values`` a number (every image) or a sequence (per image)."""
    v = np.broadcast_to(np.asarray(values, dtype=float), (n,))
    paths = [f"{task}/img{i:03d}.png" for i in range(n)]
    if task == "breast_2cls":  # AUC: ``values`` is each image's P(class 1); labels alternate
        return pd.DataFrame({"image_path": paths, "label": np.arange(n) % 2, "pred": (v > 0.5).astype(int),
                             "correct": 1, "p0": 1 - v, "p1": v})
    col = {"breast_lesion": "dice", "FUGC": "mre"}[task]
    return pd.DataFrame({"image_path": paths, col: v})


def runs(root, per: dict, seeds=(0,), experiment: str = "main"):
    """Run folders from hand-made tables: ``per[(paradigm, task)] = callable(seed) -> per-image table``; the
    trivial predictor's tables come from ``per[("trivial", task)]``."""
    tasks = sorted({t for _, t in per})
    for s in seeds:
        for p in ("single", "clinical", "all"):
            units: dict[str, list[str]] = {}
            for t in tasks:
                if (p, t) in per:
                    units.setdefault({"single": t, "clinical": get_task(t).group, "all": "all"}[p], []).append(t)
            for unit, ids in units.items():
                tabs = {t: per[(p, t)](s) for t in ids}
                write_run(root, p, unit, s, {t: primary_from_per_image(t, tabs[t]) for t in ids},
                          experiment=experiment, per_image=tabs,
                          per_image_trivial={t: per[("trivial", t)](s) for t in ids})
    return tidy_results(root)


# ---- the headroom score ---------------------------------------------------------------------------------------------

def test_headroom_score_on_hand_made_cases():
    assert headroom_score(0.7, 0.0, "dice") == pytest.approx(0.7)
    assert headroom_score(0.6, 0.2, "dice") == pytest.approx(0.5)
    assert headroom_score(0.5, 0.5, "auc") == 0.0  # AUC at chance is the trivial predictor
    assert headroom_score(0.75, np.nan, "auc") == pytest.approx(0.5)  # the trivial AUC is 0.5 by definition
    assert headroom_score(12.0, 12.0, "mre") == 0.0  # an MRE equal to the trivial one
    assert headroom_score(6.0, 12.0, "mre") == pytest.approx(0.5) and headroom_score(0.0, 12.0, "mre") == 1.0
    assert headroom_score(24.0, 12.0, "mre") == pytest.approx(-1.0)  # worse than trivial is negative
    assert np.isnan(headroom_score(0.9, 1.0, "dice"))  # no headroom: undefined, never infinite
    np.testing.assert_allclose(headroom_score(np.array([0.5, 1.0]), np.array([0.5, 0.5]), "auc"), [0.0, 1.0])
    with pytest.raises(ValueError, match="no headroom score"):
        headroom_score(1.0, 0.0, "hd95")


def test_beats_trivial_is_a_paired_interval_above_zero_with_mre_sign_flipped():
    rng = np.random.default_rng(0)
    same = table("breast_lesion", rng.uniform(0.2, 0.8, N))
    assert beats_trivial("breast_lesion", same, same)["beats"] is False  # equal to trivial: interval [0, 0]
    better = table("FUGC", 10 + rng.normal(0, 1, N))
    res = beats_trivial("FUGC", better, table("FUGC", 20.0))
    assert res["beats"] and res["diff_low"] > 0 and res["model"] < res["trivial"]  # lower MRE is better
    worse = beats_trivial("FUGC", table("FUGC", 30 + rng.normal(0, 1, N)), table("FUGC", 20.0))
    assert not worse["beats"] and worse["diff_high"] < 0


# ---- Δs and its intervals ------------------------------------------------------------------------------------------

def test_delta_s_with_a_ts_score_of_zero_is_kept_and_its_relative_change_excluded_with_the_reason(tmp_path):
    # TS Dice 0 and an empty trivial mask: s_TS = 0, the relative change is undefined, Δs is just s_CG
    tidy = runs(tmp_path / "smoke", {("single", "breast_lesion"): lambda s: table("breast_lesion", 0.0),
                                     ("clinical", "breast_lesion"): lambda s: table("breast_lesion", 0.4),
                                     ("trivial", "breast_lesion"): lambda s: table("breast_lesion", 0.0)},
                seeds=(0, 1))
    ts = two_stage(tidy, "main")
    tab = task_table(ts).iloc[0]
    assert tab["s_ts"] == 0.0 and tab["delta_s"] == pytest.approx(0.4)
    assert tab["ci_low"] == pytest.approx(0.4) and tab["ci_high"] == pytest.approx(0.4)  # no variance anywhere
    assert np.isnan(tab["rel_change_pct"]) and tab["rel_excluded"]  # excluded, and says why
    assert tab["p_holm"] == 0.0 and tab["positive_transfer"] and not tab["negative_transfer"]
    assert tab["interval_basis"] == "seeds × images" and tab["n_seeds"] == 2


def test_delta_s_for_auc_at_chance_and_mre_equal_to_trivial(tmp_path):
    rng = np.random.default_rng(1)
    good = rng.uniform(0.6, 1.0, N) * (np.arange(N) % 2) + rng.uniform(0, 0.4, N) * (1 - np.arange(N) % 2)
    per = {("single", "breast_2cls"): lambda s: table("breast_2cls", 0.5),       # AUC 0.5: s_TS = 0
           ("all", "breast_2cls"): lambda s: table("breast_2cls", good),         # AUC 1: s_AU = 1
           ("trivial", "breast_2cls"): lambda s: table("breast_2cls", 0.5),
           ("single", "FUGC"): lambda s: table("FUGC", 12.0),                    # MRE = trivial: s_TS = 0
           ("all", "FUGC"): lambda s: table("FUGC", 6.0),                        # half the trivial MRE: s = 0.5
           ("trivial", "FUGC"): lambda s: table("FUGC", 12.0)}
    ts = two_stage(runs(tmp_path / "smoke", per), "main", paradigms=("all",))
    tab = task_table(ts).set_index("task")
    assert tab.loc["breast_2cls", "s_ts"] == 0.0 and tab.loc["breast_2cls", "delta_s"] == pytest.approx(1.0)
    assert tab.loc["FUGC", "s_ts"] == 0.0 and tab.loc["FUGC", "delta_s"] == pytest.approx(0.5)
    assert aggregate(ts, None).iloc[0]["delta_s"] == pytest.approx(0.75)


def _seed_spread(tmp_path, cg_by_seed, noise=0.0):
    rng = np.random.default_rng(2)
    jitter = rng.normal(0, noise, N)
    per = {("single", "breast_lesion"): lambda s: table("breast_lesion", 0.5 + jitter),
           ("clinical", "breast_lesion"): lambda s: table("breast_lesion", cg_by_seed[s] + jitter),
           ("trivial", "breast_lesion"): lambda s: table("breast_lesion", 0.0)}
    ts = two_stage(runs(tmp_path, per, seeds=tuple(range(len(cg_by_seed)))), "main", paradigms=("clinical",))
    return task_table(ts).iloc[0]


def test_interval_widens_with_seed_variance_by_the_t_quantile_of_k_minus_1(tmp_path):
    from scipy.stats import t

    steady = _seed_spread(tmp_path / "a" / "smoke", [0.4, 0.4, 0.4])
    spread = _seed_spread(tmp_path / "b" / "smoke", [0.2, 0.4, 0.6])
    assert steady["delta_s"] == pytest.approx(-0.1) and spread["delta_s"] == pytest.approx(-0.1)
    assert steady["ci_low"] == pytest.approx(-0.1) and steady["ci_high"] == pytest.approx(-0.1)  # zero variance
    # the same images in every seed, no image effect: the seed means alone, a t interval on 2 degrees of freedom
    half = t.ppf(0.975, 2) * 0.2 / np.sqrt(3)
    assert spread["df"] == pytest.approx(2.0) and spread["ci_high"] - spread["ci_low"] == pytest.approx(2 * half)
    assert spread["ci_low"] < -0.1 < spread["ci_high"] and spread["p"] > steady["p"]
    assert spread["var_seed"] == pytest.approx(0.04) and spread["var_image"] == 0.0


def test_a_pooled_call_of_the_verdicts_is_refused(tmp_path):
    scores = np.linspace(0.2, 0.9, N)
    per = {("single", "breast_lesion"): lambda s: table("breast_lesion", 0.5 + 0.1 * np.sin(np.arange(N))),
           ("clinical", "breast_lesion"): lambda s: table("breast_lesion", 0.4),
           ("trivial", "breast_lesion"): lambda s: table("breast_lesion", 0.0),
           ("single", "breast_2cls"): lambda s: table("breast_2cls", scores),
           ("clinical", "breast_2cls"): lambda s: table("breast_2cls", scores[::-1]),
           ("trivial", "breast_2cls"): lambda s: table("breast_2cls", 0.5)}
    root = tmp_path / "smoke"
    runs(root, per, experiment="main")
    tidy = runs(root, per, experiment="data_scale/frac0.5")
    for pooled in ("both", ["main", "data_scale"], None):
        with pytest.raises(PooledEvidenceError):
            two_stage(tidy, pooled)
    main, ds = two_stage(tidy, "main"), two_stage(tidy, "data_scale")
    assert set(ds.points["experiment"]) == {"data_scale/frac0.5"} and set(main.points["experiment"]) == {"main"}
    with pytest.raises(PooledEvidenceError, match="never pooled"):
        row_tests(next(p for p in PROTOCOL if p.key == "cg_scarce_negative"), ds, ["obstetrics"], ["breast"])
    with pytest.raises(PooledEvidenceError):
        verdict_table(ds, main, ["obstetrics"], ["breast"])
    v = verdict_table(main, ds, ["obstetrics"], ["breast"])
    assert set(v["experiment"]) == {"main", "data_scale"} and (v.groupby("claim")["experiment"].nunique() == 1).all()
    assert set(v["verdict"]) <= set(VERDICTS)
    one_seed = v.set_index("claim").loc["cg_scarce_negative"]  # one seed: no seed variance, so no verdict
    assert one_seed["verdict"] == "inconclusive" and "seed variance cannot be estimated" in one_seed["reason"]


def test_the_protocol_table_in_the_docs_matches_the_code():
    from m2dino.analysis.verdicts import claim_deltas
    from m2dino.paths import REPO

    deltas = claim_deltas("default")
    rows = {line.split("|")[2].strip(" `"): line for line in (REPO / "docs" / "analysis.md").read_text().splitlines()
            if line.startswith("| ") and line.count("|") >= 8}
    for p in PROTOCOL:
        assert p.key in rows, f"docs/analysis.md: no protocol row for {p.key}"
        cells = [c.strip() for c in rows[p.key].split("|")]
        assert cells[3] == p.experiment, p.key
        assert cells[6].startswith(f"{deltas[p.key][0]:g}"), (p.key, cells[6])
        assert cells[7].startswith(p.family.split(":")[0]), (p.key, cells[7])


def test_tasks_of_one_model_move_together_in_the_group_interval(tmp_path):
    # two breast tasks trained in one CG model: a bad seed is bad for both. The group mean's seed term is the spread
    # of the per-seed group means, so it stays about as wide as each task's; treating the two tasks as independent
    # (averaging their variances) would shrink it by about sqrt(2).
    cg = {0: 0.2, 1: 0.4, 2: 0.6}
    perfect = np.where(np.arange(N) % 2, 0.8, 0.2)  # AUC 1
    per = {("single", "breast_lesion"): lambda s: table("breast_lesion", 0.5),            # s_TS 0.5
           ("clinical", "breast_lesion"): lambda s: table("breast_lesion", cg[s]),       # Δs -0.3, -0.1, +0.1
           ("trivial", "breast_lesion"): lambda s: table("breast_lesion", 0.0),
           ("single", "breast_2cls"): lambda s: table("breast_2cls", perfect),            # s_TS 1
           ("clinical", "breast_2cls"): lambda s: table("breast_2cls", 0.5 if s == 0 else perfect),  # Δs -1, 0, 0
           ("trivial", "breast_2cls"): lambda s: table("breast_2cls", 0.5)}
    ts = two_stage(runs(tmp_path / "smoke", per, seeds=(0, 1, 2)), "main", paradigms=("clinical",))
    tasks = task_table(ts).set_index("task")
    group = aggregate(ts, "group").iloc[0]
    per_seed = (np.array([-0.3, -0.1, 0.1]) + np.array([-1.0, 0.0, 0.0])) / 2  # the group mean in each seed
    assert group["se"] == pytest.approx(np.std(per_seed, ddof=1) / np.sqrt(3))
    independent = np.sqrt((tasks["se"] ** 2).sum()) / 2
    assert group["se"] > 1.2 * independent  # about sqrt(2) smaller if the tasks moved independently
