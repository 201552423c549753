"""``m2dino.analysis.publish.write_report`` is the one writer of ``results/<profile>/tables/``: every file belongs to
one part, a part written alone gives the same bytes as the whole report, and nothing else writes tables."""
import json
import shutil

import pandas as pd
import pytest
from analysis_fixtures import fabricate_everything

from m2dino.analysis.publish import PARTS, write_report
from m2dino.config import load
from m2dino.paths import NOTEBOOKS, PACKAGE


def _snapshot(d):
    return {p.name: p.read_bytes() for p in sorted(d.iterdir())} if d.exists() else {}


def test_each_part_alone_writes_what_the_whole_report_writes(tmp_path):
    fabricate_everything(tmp_path / "smoke")
    cfg = load(["profile=smoke", f"results_dir={tmp_path}"])
    tables = tmp_path / "smoke" / "tables"
    write_report(cfg, n_boot=0)
    whole = _snapshot(tables)
    assert {"tidy.csv", "task_change.csv", "delta_s_task.csv", "verdicts.csv", "what_we_found.md",
            "routing_usage.csv", "routing_similarity.csv", "moe_vs_dense.csv", "ablation_baseline_change.csv",
            "data_scale_change.csv"} <= set(whole)
    owner: dict[str, str] = {}
    for part in PARTS:
        shutil.rmtree(tables)
        if part == "affinity":  # it reads delta_s_task.csv, as in the report's own order
            write_report(cfg, ["study"], n_boot=0)
            before = set(_snapshot(tables))
            write_report(cfg, [part], n_boot=0)
            mine = {k: v for k, v in _snapshot(tables).items() if k not in before}
        else:
            write_report(cfg, [part], n_boot=0)
            mine = _snapshot(tables)
        for name, data in mine.items():
            assert name not in owner, f"{name} written by both {owner[name]} and {part}"
            owner[name] = part
            assert data == whole[name], f"{name}: part {part} alone differs from the whole report"
    assert set(owner) == set(whole)


def test_unknown_part_is_refused(tmp_path):
    fabricate_everything(tmp_path / "smoke")
    with pytest.raises(ValueError, match="unknown parts"):
        write_report(load(["profile=smoke", f"results_dir={tmp_path}"]), ["nope"], n_boot=0)


def test_nothing_else_writes_tables():
    # notebooks 03-10 show tables (00-02 write data and the backbone's own files, none under tables/)
    for nb in sorted(p for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb") if p.name >= "03"):
        code = "\n".join("".join(c["source"]) for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "code")
        for writer in ("to_csv(", "write_text(", "write_csvs", "write_tables", "save_table"):
            assert writer not in code, f"{nb.name} writes a table itself ({writer}); call write_report instead"
    callers = [p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py") if "write_csvs(" in p.read_text()]
    assert callers == ["analysis/publish.py"], callers


def test_paradigm_tables_sit_beside_the_trivial_predictor(tmp_path):
    """Notebooks 03-05's tables: one row per task and seed of each paradigm's main runs, with the paired verdict
    against the trivial predictor; with n_boot=0 (no intervals) they are not written."""
    from analysis_fixtures import fabricate_scored

    from m2dino.analysis.paradigm_results import TABLE_COLUMNS

    fabricate_scored(tmp_path / "smoke")
    cfg = load(["profile=smoke", f"results_dir={tmp_path}"])
    assert write_report(cfg, ["paradigms"], n_boot=0) == {}
    written = write_report(cfg, ["paradigms"], n_boot=20)
    assert set(written) == {"single", "clinical", "all"}
    for name, table in written.items():
        assert list(table.columns) == TABLE_COLUMNS and len(table) == 27, name
        assert (tmp_path / "smoke" / "tables" / f"{name}.csv").is_file()
    assert written["single"]["beats_trivial"].any()  # the fabricated models are better than image-blind guesses


def test_a_part_is_built_once_and_rebuilt_when_its_runs_change(tmp_path, monkeypatch):
    """Notebooks 06-09 all show the study part: the first call builds it, the others read it, until a run changes."""
    import m2dino.analysis.publish as publish
    from analysis_fixtures import default_value, fabricate, write_run

    fabricate(tmp_path / "smoke", default_value, tasks=SMALL)
    cfg = load(["profile=smoke", f"results_dir={tmp_path}"])
    first = write_report(cfg, ["study"], n_boot=0)
    calls = []
    real = publish.study_tables
    monkeypatch.setattr(publish, "study_tables", lambda *a, **k: calls.append(1) or real(*a, **k))
    again = write_report(cfg, ["study"], n_boot=0)
    assert calls == [] and set(again) == set(first)  # read back, not rebuilt
    pd.testing.assert_frame_equal(again["delta_m"], first["delta_m"].round(6), check_dtype=False)
    write_report(cfg, ["study"], n_boot=0, new_task_types=["detection"])  # not an option of this part: still read
    assert calls == []
    write_run(tmp_path / "smoke", "single", "FUGC", 7, {"FUGC": 12.0})  # a new finished run: rebuilt
    write_report(cfg, ["study"], n_boot=0)
    assert calls == [1]


def test_paradigm_tables_and_beats_trivial_csv_agree(tmp_path):
    """The paradigm tables (notebooks 03-05) take "beats the trivial predictor" from beats_trivial.csv's own
    computation, with the same resamples, so the two cannot disagree."""
    from analysis_fixtures import fabricate, scored_per_image

    from m2dino.analysis.delta_s import beats_table
    from m2dino.analysis.paradigm_results import result_table
    from m2dino.analysis.tidy import tidy_results
    from m2dino.metrics import primary_from_per_image

    def tab(p, t, s):
        return scored_per_image(t, 0.3, s)

    root = tmp_path / "smoke"
    fabricate(root, lambda p, t, s: primary_from_per_image(t, tab(p, t, s)), seeds=(0, 1), tasks=SMALL,
              paradigms=("single",), per_image=tab)
    tidy = tidy_results(root)
    ts = result_table(tidy, "single", n_boot=30).set_index(["task", "seed"]).sort_index()
    beats = beats_table(tidy, "main", "single", n_boot=30).set_index(["task", "seed"]).sort_index()
    pd.testing.assert_series_equal(ts["beats_trivial"], beats["beats"], check_names=False)
    pd.testing.assert_series_equal(ts["diff_low"], beats["diff_low"], check_names=False)
    assert len(ts) == 2 * len(SMALL)


SMALL = ["breast_lesion", "breast_2cls", "thyroid_nodule_det", "FUGC", "lung"]  # one of each type, two groups
