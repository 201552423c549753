"""pyproject.toml and environment.yml list the same dependencies, so conda and pip users get the same project."""
import re
import tomllib

import yaml

from m2dino.paths import REPO


def _name(spec: str) -> str:
    return re.split(r"[<>=!~\[ ]", spec.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    want = {_name(d): d.replace(" ", "") for d in project["dependencies"] + project["optional-dependencies"]["dev"]}
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    got = {_name(d): d.replace(" ", "") for d in pip if not d.startswith("-e")}
    assert got == want
    assert any(str(d).startswith("python>=3.11") for d in env["dependencies"])
