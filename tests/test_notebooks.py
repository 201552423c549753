"""Notebook conventions: numbered names, a parameters cell of defaults, no stray outputs, config composed after it."""
import json
import re

import pytest

from m2dino.paths import NOTEBOOKS

NUMBERED = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
EXPECTED = ["00_study_overview", "01_data_preparation", "02_backbone_pretraining", "03_single_task",
            "04_clinical_group", "05_all_task", "06_task_aggregation", "07_data_scale", "08_moe_routing",
            "09_guidelines", "10_task_affinity"]


def test_notebooks_exist_and_use_the_fixed_numbering():
    assert NUMBERED, "no notebooks"
    for nb in NUMBERED:
        assert nb.stem in EXPECTED, f"{nb.name} is not one of the fixed names {EXPECTED}"


@pytest.mark.parametrize("nb", NUMBERED, ids=lambda p: p.name)
def test_parameters_cell_holds_defaults_only(nb):
    cells = json.loads(nb.read_text())["cells"]
    tagged = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{nb.name}: needs exactly one cell tagged 'parameters'"
    src = "".join(tagged[0]["source"])
    assert 'profile = os.environ.get("M2DINO_PROFILE", "demo")' in src
    for line in src.splitlines():
        line = line.split("#")[0].strip()
        if not line or line.startswith("import ") or line.startswith("from "):
            continue
        name, _, value = line.partition("=")
        assert re.fullmatch(r"[A-Za-z_]\w*", name.strip()), f"{nb.name}: not an assignment: {line}"
        value = value.strip()
        if name.strip() != "profile":  # every other parameter is a plain literal, derived from nothing
            assert re.fullmatch(r"None|True|False|-?[\d.e_]+|\"[^\"]*\"|'[^']*'|\[[^\]]*\]", value), \
                f"{nb.name}: parameter {line!r} is not a literal"


@pytest.mark.parametrize("nb", NUMBERED, ids=lambda p: p.name)
def test_papermill_sees_every_parameter(nb):
    """papermill's inspection (``papermill --help-notebook``) parses each parameter line with a regex that an "=" in
    the comment breaks: the parameter then goes missing from the help and a warning is printed on every run."""
    import papermill

    cells = json.loads(nb.read_text())["cells"]
    src = "".join(next(c for c in cells if "parameters" in c.get("metadata", {}).get("tags", []))["source"])
    declared = {line.split("=")[0].strip() for line in src.splitlines()
                if "=" in line.split("#")[0] and not line.startswith(("import ", "from "))}
    assert set(papermill.inspect_notebook(str(nb))) == declared, f"{nb.name}: papermill cannot parse every parameter"


@pytest.mark.parametrize("nb", NUMBERED, ids=lambda p: p.name)
def test_no_stray_outputs(nb):
    for i, c in enumerate(json.loads(nb.read_text())["cells"]):
        if c.get("outputs"):
            assert "NBVAL_CHECK_OUTPUT" in "".join(c["source"]), f"{nb.name}: stored outputs in cell {i}"
