"""``python -m m2dino report``: prints the tables, writes them as CSV, refuses without results."""
import pandas as pd
from analysis_fixtures import fabricate

from m2dino.commands.report import main


def _value(p, t, s):
    # CG hurts breast tasks by 50%, helps the rest by 10%; AU +5% everywhere (MRE inverted accordingly)
    k = {"single": 0.0, "clinical": -0.5 if t.startswith("breast") else 0.1, "all": 0.05}[p]
    return 10.0 * (1 - k) if t in ("FUGC", "IUGC", "fetal_femur") else 0.6 * (1 + k)


def test_report_refuses_without_results(tmp_path, capsys):
    assert main(["profile=smoke", f"results_dir={tmp_path}"]) == 1
    assert "no run folders" in capsys.readouterr().err


def test_report_writes_the_main_tables(tmp_path, capsys):
    fabricate(tmp_path / "smoke", _value, seeds=(0, 1))
    assert main(["profile=smoke", f"results_dir={tmp_path}", "n_boot=0"]) == 0
    out = capsys.readouterr().out
    tables = tmp_path / "smoke" / "tables"
    for name in ("tidy", "task_change", "group_change", "type_change", "delta_m", "negative_transfer_by_type",
                 "study_vs_ours", "guideline", "delta_s_task", "delta_s_all", "verdicts"):
        assert (tables / f"{name}.csv").exists(), name
    dm = pd.read_csv(tables / "delta_m.csv").set_index("comparison")["delta_m"]
    # 3 breast tasks at -50%, 24 tasks at +10%: (3 * -50 + 24 * 10) / 27
    assert abs(dm["CG vs TS"] - (3 * -50 + 24 * 10) / 27) < 1e-4 and abs(dm["AU vs TS"] - 5.0) < 1e-4
    g = pd.read_csv(tables / "group_change.csv").set_index(["comparison", "group"])["mean_change"]
    assert abs(g[("CG vs TS", "breast")] + 50) < 1e-4
    side = pd.read_csv(tables / "study_vs_ours.csv")
    assert set(side["study_source"]) == {"study [S]"}
    assert side["ours_source"].str.contains("profile=smoke, seeds \\[0, 1\\], synthetic data").all()
    assert "== delta_m" in out and "Maninis" in out
    found = (tables / "what_we_found.md").read_text()
    assert "profile=smoke" in found and "synthetic data" in found and "Δm" in found
    assert not (tables / "beats_trivial.csv").exists()  # n_boot=0: no interval against the trivial predictor
    v = pd.read_csv(tables / "verdicts.csv")
    assert list(v.columns[:9]) == ["claim", "grade", "experiment", "statistic", "estimate", "ci_low", "ci_high", "mde",
                                   "verdict"]
    assert set(v["verdict"]) == {"inconclusive"}  # no intervals, no verdict either way
    ds = pd.read_csv(tables / "delta_s_task.csv")
    assert list(ds.columns[:12]) == ["experiment", "paradigm", "task", "type", "group", "s_ts", "s_paradigm",
                                     "delta_s", "ci_low", "ci_high", "p_holm", "negative_transfer"]
    assert not ds["negative_transfer"].any()  # n_boot=0: nothing is called negative transfer
