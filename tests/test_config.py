import pytest
from omegaconf import OmegaConf

from m2dino.config import CONF_DIR, ConfigError, config_hash, load
from m2dino.grouping import paradigm_units, resolve_groups


@pytest.mark.parametrize("profile", ["smoke", "demo", "paper"])
def test_profiles_compose_and_set_scale(profile):
    cfg = load([f"profile={profile}"])
    assert cfg.profile.name == profile
    assert cfg.model.img_size == cfg.data.image_size
    assert len(cfg.plan.seeds) >= 1


def test_paper_profile_is_vit_b16_at_224_with_three_seeds():
    cfg = load(["profile=paper"])
    assert cfg.model.arch == "vit_base_patch16_dinov3" and cfg.model.img_size == 224
    assert list(cfg.plan.seeds) == [0, 1, 2]


def test_env_variable_picks_the_profile_and_override_wins(monkeypatch):
    monkeypatch.setenv("M2DINO_PROFILE", "smoke")
    assert load([]).profile.name == "smoke"
    assert load(["profile=demo"]).profile.name == "demo"


def test_load_can_be_called_repeatedly():
    a, b = load(["profile=smoke"]), load(["profile=smoke"])
    assert config_hash(a) == config_hash(b)
    assert config_hash(load(["profile=smoke", "seed=1"])) != config_hash(a)


def test_every_config_key_is_commented():
    """Every `key:` line in the config tree carries a comment, on its line or the line above (DINOv3 style)."""
    bad = []
    for path in sorted(CONF_DIR.rglob("*.yaml")):
        if path.name == "tasks.yaml":
            continue  # data, documented in its header
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            s = line.strip()
            if not s or s.startswith("#") or s.startswith("-") or ":" not in s:
                continue
            if path.parent.name == "grouping" and line.startswith("  ") and "groups" not in s:
                continue  # group members are data
            above = lines[i - 1].strip() if i else ""
            if "#" not in line and not above.startswith("#"):
                bad.append(f"{path.relative_to(CONF_DIR)}:{i + 1}: {s}")
    assert not bad, "uncommented config keys:\n" + "\n".join(bad)


@pytest.mark.parametrize("paradigm,n_units", [("single", 27), ("clinical", 8), ("all", 1)])
def test_paradigm_units(paradigm, n_units):
    units = paradigm_units(load(["profile=smoke", f"paradigm={paradigm}"]))
    assert len(units) == n_units
    assert sorted(t for ids in units.values() for t in ids) == sorted(
        t for ids in paradigm_units(load(["paradigm=all"])).values() for t in ids)


def test_unit_and_task_restriction():
    cfg = load(["paradigm=clinical", "unit=breast", "tasks=[breast_lesion,breast_2cls]"])
    assert paradigm_units(cfg) == {"breast": ["breast_lesion", "breast_2cls"]}
    with pytest.raises(ConfigError, match="unit=nowhere: not a unit"):
        paradigm_units(load(["paradigm=clinical", "unit=nowhere"]))


def test_groupings_are_data_and_refuse_overlaps():
    assert list(resolve_groups(OmegaConf.create({"by": "type"}))) == [
        "segmentation", "classification", "detection", "regression"]
    bad = {"name": "bad", "by": None, "groups": {"a": ["lung"], "b": ["lung"]}}
    with pytest.raises(ValueError, match="'lung' is in both"):
        resolve_groups(bad)
    with pytest.raises(ValueError, match="tasks in no group"):
        resolve_groups({"name": "partial", "by": None, "groups": {"a": ["lung"]}})


def test_paper_profile_reads_real_data_and_demands_its_folder():
    from omegaconf.errors import MissingMandatoryValue

    cfg = load(["profile=paper"])
    assert cfg.data.source == "fmc"
    with pytest.raises(MissingMandatoryValue):
        cfg.data.root
