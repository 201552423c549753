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


def test_clinical_groups_are_defined_once():
    """grouping/clinical.yaml is the one definition: the registry's Task.group is read from it, tasks.yaml sets none,
    and the CG units of grouping=clinical are exactly the registry's groups (in the file's order)."""
    from omegaconf import OmegaConf

    from m2dino.config import load
    from m2dino.grouping import load_grouping, paradigm_units, resolve_groups

    rows = OmegaConf.to_container(OmegaConf.load(registry.TASKS_YAML))["tasks"]
    assert not [r["id"] for r in rows if "group" in r], "tasks.yaml must not repeat the clinical groups"
    clinical = resolve_groups(load_grouping("clinical"))
    assert {t: g for g, ids in clinical.items() for t in ids} == {t.id: t.group for t in registry.all_tasks()}
    assert paradigm_units(load(["paradigm=clinical"])) == clinical
    assert len(clinical) == 8 and clinical["breast"] == ["breast_lesion", "breast_2cls", "breast_3cls"]


def test_a_group_in_tasks_yaml_is_refused(tmp_path, monkeypatch):
    bad = tmp_path / "tasks.yaml"
    bad.write_text(registry.TASKS_YAML.read_text().replace("organ: breast,", "organ: breast, group: breast,", 1))
    monkeypatch.setattr(registry, "TASKS_YAML", bad)
    registry._load.cache_clear()
    try:
        with pytest.raises(ValueError, match="groups are defined in"):
            registry._load()
    finally:
        monkeypatch.undo()
        registry._load.cache_clear()
