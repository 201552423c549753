"""The small calibration (``conf/analysis.yaml: calibration.small``): simulated results with known effects through
the analysis from the tidy table on, every figure within the issue's bounds widened by 3 Monte-Carlo SEs (its own
MC error); the candidates the calibration rejected must fail where they were shown to; one replicate read back from
run folders on disk gives what the in-memory replicate gives; the command writes its summary and exits by the bounds.
``python -m m2dino calibrate`` runs the full version (docs/analysis.md, "Calibration")."""
import json

import numpy as np
import pandas as pd
import pytest

import m2dino.analysis.calibration as C
from m2dino.analysis.delta_s import task_table
from m2dino.analysis.simulate import PROFILE, simulate


@pytest.fixture(scope="module")
def small():
    setup, _ = C.setup_from_config(small=True)
    return setup, C.calibrate(setup, log=lambda m: None)


def test_every_figure_meets_its_bound_within_its_monte_carlo_error(small):
    _, fig = small
    binding = fig[fig["binding"]]
    bad = binding[~binding["ok"]]
    assert bad.empty, "\n" + bad.to_string()
    assert (binding["mc_se"] >= 0).all() and (binding["replicates"] > 0).all()  # SE 0: every replicate agreed


def test_every_kind_of_figure_is_there_for_every_regime(small):
    setup, fig = small
    fig = fig[fig["binding"]]
    for regime in setup.regimes:
        f = fig[fig["regime"] == regime.name]
        got = set(zip(f["figure"], f["what"]))
        for want in (("coverage", "task"), ("coverage", "group mean"), ("coverage", "slope"), ("type_i", "task"),
                     ("fwer", "task"), ("power", "task")):
            assert want in got, (regime.name, want)
        for kind in ("agree_when_holds", "disagree_when_fails", "equivalent_when_null"):
            assert {"cg_scarce_negative", "cg_rich_gain", "au_over_cg_scarce", "segmentation_drops_most_cg",
                    "scale_dependence_rich", "scale_dependence_scarce"} <= set(f.loc[f["figure"] == kind, "what"])


def test_the_rejected_candidates_fail_where_they_were_shown_to(small):
    # the harness detects the defects: where image effects persist across seeds, the old two-stage bootstrap and the
    # t interval over the seed means under-cover; the pigeonhole bootstrap with a t(K-1) quantile over-covers
    _, fig = small
    cand = fig[~fig["binding"]].set_index(["regime", "what"])
    name = "task, rejected candidate: {}".format
    for bad in ("two-stage bootstrap (the code before #23)", "seed-means t"):
        row = cand.loc[("image_dominant", name(bad))]
        assert not row["ok"] and row["value"] < 0.85, bad
    for regime in ("seed_dominant", "image_dominant"):
        row = cand.loc[(regime, name("pigeonhole, t(K-1)"))]
        assert not row["ok"] and row["value"] > 0.98


def test_a_replicate_from_run_folders_equals_the_same_replicate_in_memory(small, tmp_path):
    setup, _ = small
    sim = simulate(setup.design(3), setup.regimes[0], seed=5)
    mem, beats_mem = C.analyse(sim, setup)
    disk, beats_disk = C.analyse(sim, setup, tmp_path / PROFILE)
    assert set(mem) == set(disk) == {"main", "data_scale"}
    for fam in mem:
        a, b = task_table(mem[fam], beats_mem), task_table(disk[fam], beats_disk)
        cols = ["delta_s", "ci_low", "ci_high", "p", "p_holm", "df", "mde", "var_seed", "var_image", "var_resid"]
        np.testing.assert_allclose(a[cols].to_numpy(float), b[cols].to_numpy(float), rtol=1e-9, atol=1e-12)
        assert list(a["task"]) == list(b["task"])
    pd.testing.assert_frame_equal(beats_mem.reset_index(drop=True), beats_disk.reset_index(drop=True))


def test_the_command_writes_its_summary_and_exits_by_the_bounds(small, tmp_path, monkeypatch, capsys):
    from m2dino.commands.calibrate import main

    setup, fig = small
    monkeypatch.setattr(C, "calibrate", lambda s, log=print: fig)
    assert main(["small=true", f"out={tmp_path}"]) == 0
    doc = json.loads((tmp_path / "summary.json").read_text())
    assert doc["all_ok"] and len(doc["figures"]) == len(fig) and doc["ks"] == list(setup.ks)
    assert "| regime | K |" in (tmp_path / "summary.md").read_text() and "MC SE" in capsys.readouterr().out
    worse = fig.copy()
    worse.loc[worse.index[0], ["value", "ok"]] = [0.5, False]
    monkeypatch.setattr(C, "calibrate", lambda s, log=print: worse)
    assert main(["small=true", f"out={tmp_path}"]) == 1 and "MISSED" in capsys.readouterr().out
    seen = []
    monkeypatch.setattr(C, "calibrate", lambda s, log=print: seen.append(s) or fig)
    assert main(["small=true", "claim_replicates=7", f"out={tmp_path}"]) == 0
    assert seen[0].claim_replicates == 7 and seen[0].replicates == setup.replicates
    assert main(["small=true", "regimes=[image_dominant]", f"out={tmp_path}"]) == 0
    assert [r.name for r in seen[1].regimes] == ["image_dominant"]
    monkeypatch.setattr(C, "OUT_DIR", tmp_path / "default")  # a partial run keeps the full run's summary
    assert main(["small=true", "regimes=[image_dominant]"]) == 0
    assert (tmp_path / "default" / "regimes_image_dominant" / "summary.json").exists()
    assert not (tmp_path / "default" / "summary.json").exists()
    capsys.readouterr()
    assert main(["small=true", "regimes=[nowhere]"]) == 2
    assert "unknown regime(s) ['nowhere']" in capsys.readouterr().out
    for empty in ("regimes=[]", "regimes="):
        assert main(["small=true", empty]) == 2 and "names no regime" in capsys.readouterr().out
    assert main(["small=true", "bogus=1"]) == 2


def test_the_digest_marks_a_missed_bound_and_a_stress_world():
    from m2dino.analysis.calibration import _figure, digest

    rows: list = []
    for regime in ("demo", "stress"):
        _figure(rows, regime, 3, "coverage", "task", (0.95, 0.003, 400), 0)
        _figure(rows, regime, 3, "fwer", "task", (0.11 if regime == "stress" else 0.04, 0.01, 400), 0)
        _figure(rows, regime, 3, "agree_when_holds", "cg_rich_gain", (0.85, 0.03, 150), 0)
    fig = pd.DataFrame(rows)
    fig.loc[fig["regime"] == "stress", "binding"] = False
    lines = digest(fig).splitlines()
    demo, stress = lines[2], lines[3]
    assert "0.950 ± 0.003" in demo and "**" not in demo and "1 of 1" in demo
    assert stress.startswith("| stress (stress world, not a bound) | 3 |") and "**0.110 ± 0.010**" in stress
