"""The HTML report of a reproduction and the README's figure copies, built from small fixtures (no browser)."""
import base64
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from m2dino import provenance, readme_figures  # noqa: E402
from m2dino.config import load  # noqa: E402
from m2dino.html_report import build  # noqa: E402
from m2dino.plotting import save_figure  # noqa: E402


def _figures(out_dir, names, width=12):
    provenance.forget()
    load(["profile=smoke"])
    for name in names:
        fig, ax = plt.subplots(figsize=(width, 4))
        ax.plot([0, 1], [0, 1])
        save_figure(fig, out_dir, name)
        plt.close(fig)


def _executed_notebook(path, end_time="2026-12-01T10:00:00.000000"):
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buf, format="PNG")
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("plot()")
    cell.outputs = [nbformat.v4.new_output("display_data", data={"image/png": base64.b64encode(buf.getvalue()).decode()})]
    nb.cells = [cell]
    nb.metadata["papermill"] = {"duration": 12.3, "end_time": end_time, "exception": None}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


def test_report_links_notebooks_shows_figures_and_findings(tmp_path):
    results, figures = tmp_path / "results", tmp_path / "figures"
    _executed_notebook(results / "smoke" / "notebooks" / "06_task_aggregation.ipynb")
    _figures(figures / "smoke", ["task_change_vs_ts"], width=3)
    (results / "smoke" / "tables").mkdir()
    (results / "smoke" / "tables" / "what_we_found.md").write_text("- CG vs TS: a fixture line\n")
    index = build("smoke", results=results, figures=figures)
    page = index.read_text()
    assert 'href="06_task_aggregation.html"' in page and (index.parent / "06_task_aggregation.html").is_file()
    assert "data:image/png;base64" in (index.parent / "06_task_aggregation.html").read_text()
    assert 'src="figures/task_change_vs_ts.png"' in page and (index.parent / "figures/task_change_vs_ts.png").is_file()
    assert "per-task change of CG and AU against TS" in page and "a fixture line" in page
    assert "synthetic data" in page


def test_report_without_executed_notebooks_names_the_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="notebooks"):
        build("smoke", results=tmp_path, figures=tmp_path)


def test_readme_figures_copies_small_and_rewrites_the_block(tmp_path):
    figures, results = tmp_path / "figures", tmp_path / "results"
    _figures(figures / "demo", list(readme_figures.KEY_FIGURES))
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{readme_figures.BEGIN}\nold\n{readme_figures.END}\n\nrest\n")
    copies = readme_figures.update("demo", figures=figures, results=results, out_dir=tmp_path / "docs" / "img",
                                   readme=readme)
    text = readme.read_text()
    assert "old" not in text and text.endswith("rest\n")
    assert text.count("Synthetic data, demo profile") == 3
    for c in copies:
        with Image.open(c) as im:
            assert im.width == readme_figures.WIDTH
        rec = provenance.read(c)
        assert rec["profile"] == "smoke" and rec["copied_from"] == c.name
        assert f"(docs/img/{c.name})" in text


def test_readme_figures_names_missing_figures(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"{readme_figures.BEGIN}\n{readme_figures.END}\n")
    with pytest.raises(FileNotFoundError, match="task_change_vs_ts.png"):
        readme_figures.update("demo", figures=tmp_path, results=tmp_path, out_dir=tmp_path, readme=readme)
