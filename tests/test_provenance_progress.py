"""Figures carry their provenance and stay byte-reproducible; headless progress stores one line, not every redraw."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from m2dino import cli, provenance  # noqa: E402
from m2dino.config import load  # noqa: E402
from m2dino.plotting import save_figure  # noqa: E402
from m2dino.progress import tqdm  # noqa: E402


@pytest.fixture
def clean_provenance():
    provenance.forget()
    yield
    provenance.forget()


def _fig():
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [1, 0])
    return fig


def test_figure_carries_config_runs_and_commit(tmp_path, monkeypatch, clean_provenance):
    run = tmp_path / "results" / "smoke" / "single" / "breast_lesion" / "seed0"
    run.mkdir(parents=True)
    monkeypatch.setenv(provenance.NOTEBOOK_ENV, "/x/notebooks/06_task_aggregation.ipynb")
    monkeypatch.setenv(provenance.COMMAND_ENV, "make reproduce PROFILE=smoke")
    cfg = load(["profile=smoke"])
    provenance.note_run(run, "abc123def456")  # as m2dino.runs' readers do, with the hash the run was read under
    fig = _fig()
    png, pdf = save_figure(fig, tmp_path / "a", "f")
    again = save_figure(fig, tmp_path / "b", "f")
    plt.close(fig)
    assert png.read_bytes() == again[0].read_bytes() and pdf.read_bytes() == again[1].read_bytes()
    for path in (png, pdf):
        rec = provenance.read(path)
        assert rec["notebook"] == "06_task_aggregation.ipynb"
        assert rec["command"] == "make reproduce PROFILE=smoke"
        assert rec["profile"] == "smoke" and rec["seeds"] == list(cfg.plan.seeds)
        assert rec["data_seed"] == cfg.data.seed
        assert rec["runs"] == [{"run": str(run.resolve()), "hash": "abc123def456"}]
        assert len(rec["commit"]) == 40 or rec["commit"] == "unknown"


def test_provenance_cli_prints_it_and_names_a_bad_file(tmp_path, capsys, clean_provenance):
    load(["profile=smoke"])
    fig = _fig()
    png, _ = save_figure(fig, tmp_path, "g")
    plt.close(fig)
    assert cli.main(["provenance", str(png)]) == 0
    out = capsys.readouterr().out
    assert "profile:   smoke" in out and "commit:" in out
    bare = tmp_path / "bare.png"
    fig = _fig()
    fig.savefig(bare)
    plt.close(fig)
    assert cli.main(["provenance", str(bare)]) == 1
    assert str(bare) in capsys.readouterr().err


def test_headless_progress_prints_one_summary_line(monkeypatch, capsys):
    monkeypatch.setenv("M2DINO_HEADLESS", "1")
    for _ in tqdm(range(500), desc="pretrain mim", disable=None):
        pass
    for _ in tqdm(range(500), desc="unit epoch", leave=False, disable=False):  # a passing bar leaves nothing
        pass
    captured = capsys.readouterr()
    assert captured.out == "pretrain mim: 500 it in 0 s\n"
    assert captured.err == ""
