import subprocess
import sys

from m2dino.cli import main, verbs


def test_help_lists_verbs(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "tasks" in out and "bench" in out


def test_unknown_verb_fails(capsys):
    assert main(["frobnicate"]) == 2
    assert "unknown verb 'frobnicate'" in capsys.readouterr().err


def test_every_verb_has_help():
    assert all(h for h in verbs().values())


def test_tasks_prints_the_registry_via_python_m():
    res = subprocess.run([sys.executable, "-m", "m2dino", "tasks"], capture_output=True, text=True, check=True)
    assert res.stdout.count("\n") > 27
    assert "breast_lesion" in res.stdout and "MISMATCH" not in res.stdout
