"""Per-task change with paired intervals over test images (jackknife pseudo-values, m2dino.analysis.inference) on
scored fabricated runs."""
import functools

import pytest
from analysis_fixtures import fabricate, scored_per_image

from m2dino.analysis.change import relative_change, task_changes
from m2dino.analysis.tidy import tidy_results
from m2dino.analysis.transfer import count_negative
from m2dino.metrics import primary_from_per_image

TASKS = ["breast_lesion", "breast_2cls", "FUGC"]  # detection would import torch (torchvision box IoU): slow here
ERROR = {"single": 0.1, "clinical": 0.8, "all": 0.1}  # CG clearly worse; AU the same as TS


def test_paired_change_intervals_find_negative_transfer(tmp_path):
    root = tmp_path / "smoke"
    table = functools.cache(lambda p, t, s: scored_per_image(t, ERROR[p], s))
    fabricate(root, lambda p, t, s: primary_from_per_image(t, table(p, t, s)), tasks=TASKS, per_image=table)
    ch = task_changes(tidy_results(root), n_boot=200).set_index(["paradigm", "task"])
    for t in TASKS:
        cg = ch.loc[("clinical", t)]
        # the point change is the metrics' relative change, in percent; one seed: the interval counts images only
        assert cg["change"] == pytest.approx(relative_change(t, cg["ref_value"], cg["new_value"]))
        assert cg["n_seeds"] == 1 and cg["df"] == pytest.approx(23.0, rel=0.2)
        assert cg["change"] < 0 and cg["ci_low"] <= cg["change"] <= cg["ci_high"] and cg["ci_high"] < 0, t
        au = ch.loc[("all", t)]
        assert au["change"] == pytest.approx(0.0) and au["ci_low"] <= 0 <= au["ci_high"]
    n = count_negative(ch.reset_index()).set_index("comparison")["n_negative"]
    assert n["CG vs TS"] == 3 and n["AU vs TS"] == 0


def test_per_image_tables_of_several_tasks_in_one_csv_keep_integer_labels(tmp_path):
    # a CG unit writes one per_image.csv for its tasks: a 3-class task's labels must come back as integers
    from m2dino.analysis.tidy import read_per_image
    from analysis_fixtures import write_run

    tabs = {t: scored_per_image(t, 0.2) for t in ("breast_3cls", "breast_lesion")}
    d = write_run(tmp_path / "smoke", "clinical", "breast", 0, {t: 0.5 for t in tabs}, per_image=tabs)
    got = read_per_image(d, "breast_3cls")
    assert got["label"].dtype == "int64" and "dice" not in got.columns
    assert primary_from_per_image("breast_3cls", got) == pytest.approx(primary_from_per_image("breast_3cls",
                                                                                            tabs["breast_3cls"]))
