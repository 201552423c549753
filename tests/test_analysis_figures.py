"""Figures: drawn from fabricated tables, captioned with provenance, saved byte-reproducibly."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from analysis_fixtures import fabricate_everything  # noqa: E402

from m2dino.analysis import figures  # noqa: E402
from m2dino.analysis.tables import build_tables  # noqa: E402
from m2dino.analysis.routing import cluster, load_routing, routing_similarity  # noqa: E402
from m2dino.analysis.tidy import provenance, tidy_results  # noqa: E402
from m2dino.plotting import save_figure  # noqa: E402


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("results") / "smoke"
    fabricate_everything(root)
    tidy = tidy_results(root)
    return root, tidy, build_tables(tidy, n_boot=100, bootstrap=False)


def _all_text(fig):
    return " ".join(t.get_text() for t in fig.texts) + " ".join(a.get_title() for a in fig.axes)


def test_every_figure_names_its_data_and_saves_identical_bytes(world, tmp_path):
    root, tidy, tables = world
    label = provenance(tidy)
    usage = load_routing(root / "all" / "all" / "seed0")
    sim = routing_similarity(usage)
    order, z = cluster(sim)
    made = {
        "task_change_vs_ts": lambda: figures.plot_change_bars(tables["task_change"], "change", label),
        "group_change_vs_ts": lambda: figures.plot_summary(tables["group_change"], "group", label),
        "type_change_vs_ts": lambda: figures.plot_summary(tables["type_change"], "type", label, tables["delta_m"]),
        "study_vs_ours_group_change": lambda: figures.plot_study_vs_ours(
            tables["study_vs_ours"][tables["study_vs_ours"]["what"] == "group change vs TS"], label),
        "data_scale_change_vs_n_train": lambda: figures.plot_data_scale(tables["data_scale_change"], label),
        "moe_expert_usage": lambda: figures.plot_expert_usage(usage, label),
        "moe_task_similarity_clustered": lambda: figures.plot_similarity(sim, order, z, label),
        "ablation_moe_vs_dense": lambda: figures.plot_change_bars(tables["ablation_baseline_change"], "abl", label),
        "guideline_derived_vs_study": lambda: figures.plot_guideline(tables["guideline"], tables["verdicts"],
                                                                     label),
        "delta_s_vs_ts": lambda: figures.plot_delta_s(
            tables["delta_s_task"][tables["delta_s_task"]["experiment"] == "main"], label),
    }
    for name, make in made.items():
        fig = make()
        assert "synthetic data" in _all_text(fig) and "profile=smoke" in _all_text(fig), name
        if name == "type_change_vs_ts":  # saving is slow (PNG + PDF): one figure shows reproducibility
            a = save_figure(fig, tmp_path / "a", name)
            b = save_figure(fig, tmp_path / "b", name)
            for pa, pb in zip(a, b):
                assert pa.stat().st_size > 0 and pa.read_bytes() == pb.read_bytes(), pa.name
        plt.close(fig)
    assert "[S]" in _all_text(figures.plot_study_vs_ours(tables["study_vs_ours"], label))


def test_routing_similarity_is_symmetric_and_clusters_identical_tasks(world):
    root, _, _ = world
    usage = load_routing(root / "all" / "all" / "seed0")
    twin = usage[usage["task"] == "lung"].assign(task="lung_twin")
    sim = routing_similarity(usage._append(twin) if hasattr(usage, "_append") else
                             __import__("pandas").concat([usage, twin]))
    assert (sim.values.diagonal() == pytest.approx(1.0)) and sim.loc["lung", "lung_twin"] == pytest.approx(1.0)
    assert (sim.values == pytest.approx(sim.values.T))
    order, _ = cluster(sim)
    assert abs(order.index("lung") - order.index("lung_twin")) == 1


def test_data_scale_table_has_both_groups_and_fractions(world):
    _, _, tables = world
    ds = tables["data_scale_change"]
    assert set(ds["group"]) == {"obstetrics", "breast"} and set(ds["fraction"]) == {0.5, 1.0}
    # fabricated: CG -20% at full data, -40% at half (MRE inverted the same way)
    m = ds.groupby(["paradigm", "fraction"])["change"].mean()
    assert m[("clinical", 0.5)] == pytest.approx(-40.0, abs=1e-6) and m[("clinical", 1.0)] == pytest.approx(-20.0)
