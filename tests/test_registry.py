import pytest

from m2dino import registry


def test_counts_per_type_match_the_challenge():
    counts = registry.as_frame().groupby("type")["task"].count().to_dict()
    assert counts == {"segmentation": 12, "classification": 9, "detection": 3, "regression": 3}


def test_per_task_counts_add_up_to_the_study_totals():
    assert registry.check_totals() == []


def test_primary_metric_and_direction_follow_the_type():
    for t in registry.all_tasks():
        want = {"segmentation": ("dice", 1), "classification": ("auc", 1), "detection": ("iou", 1),
                "regression": ("mre", -1)}[t.type]
        assert (t.primary_metric, t.direction) == want, t.id


def test_csv_spelling_of_regression_has_capital_r():
    assert registry.get_task("FUGC").csv_task_name == "Regression"
    assert registry.get_task("lung").csv_task_name == "segmentation"


def test_classes_and_keypoints_from_the_challenge():
    assert registry.get_task("cardiac_multi").num_classes == 4
    assert registry.get_task("fetal_abdomen_multi").num_classes == 5
    assert registry.get_task("IUGC").num_classes == 3
    assert registry.get_task("fetal_head_pos_cls").num_classes == 8


def test_unknown_task_is_a_clear_error():
    with pytest.raises(KeyError, match="unknown task id 'nope'"):
        registry.get_task("nope")
