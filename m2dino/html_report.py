"""A browsable report of one reproduction: ``results/<profile>/report/index.html``.

``make reproduce`` ends with ``python -m m2dino htmlreport profile=<profile>``: every executed notebook in
``results/<profile>/notebooks/`` is exported to HTML with nbconvert (its figures embedded), and one ``index.html``
links them, shows every figure of ``figures/<profile>/`` with its caption and provenance, and includes the generated
"What we found" (``results/<profile>/tables/what_we_found.md``) when there is one. The folder is self-contained
(figures are copied next to it), so it can be zipped or opened from anywhere.
"""
from __future__ import annotations

import html
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter
from nbconvert.filters.markdown import markdown2html

from m2dino import provenance
from m2dino.analysis.figures import FIGURE_NAMES
from m2dino.paths import FIGURES, RESULTS

# Captions of the figures that m2dino.analysis.figures does not draw (those carry theirs in FIGURE_NAMES).
OTHER_CAPTIONS = {
    "task_overview": "the 27 tasks by clinical group and type, sized by training data",
    "data_gallery": "one synthetic example per task with its label",
    "backbone_pretraining": "in-house backbone: pretraining loss and linear probes against random init",
    "training_curves_single": "training loss per task and epoch, task-specific models (TS)",
    "training_curves_clinical": "training loss per task and epoch, clinical-group models (CG)",
    "training_curves_all": "training loss per task and epoch, the all-task model (AU)",
    "guideline_derived_vs_study": "the guideline derived from our runs next to the study's",
}
CAPTIONS = {**OTHER_CAPTIONS, **FIGURE_NAMES}

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 70rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
.note { background: #fff4d6; border-left: 4px solid #e0a800; padding: .5rem 1rem; }
figure { margin: 1.5rem 0; } figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: .95rem; } .prov { font-size: .8rem; color: #666; }
table { border-collapse: collapse; } td, th { padding: .2rem .6rem; border-bottom: 1px solid #eee; text-align: left; }
"""


@dataclass
class Notebook:
    """One executed notebook and what the report says about it."""

    name: str
    html: str
    status: str
    seconds: float | None


def export_notebook(src: Path, out: Path) -> Notebook:
    """Export one executed notebook to self-contained HTML (images inline) and read papermill's status and timing."""
    try:
        nb = nbformat.read(src, as_version=4)
    except Exception as e:  # noqa: BLE001 - any unreadable notebook is reported with its path
        raise ValueError(f"{src}: not a readable notebook ({e})") from e
    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nb, resources={"metadata": {"name": src.stem}})
    out.write_text(body, encoding="utf-8")
    pm = nb.metadata.get("papermill", {})
    failed = pm.get("exception") or any(o.get("output_type") == "error" for c in nb.cells for o in c.get("outputs", []))
    return Notebook(src.name, out.name, "failed" if failed else "ran", pm.get("duration"))


def _figure_html(png: Path, rel: str) -> str:
    name = png.stem
    caption = CAPTIONS.get(name, name.replace("_", " "))
    try:
        rec = provenance.read(png)
        commit = str(rec.get("commit", "unknown"))[:10] + (" (dirty)" if rec.get("dirty") else "")
        prov = (f"{html.escape(rec.get('notebook') or 'unknown notebook')} · profile {html.escape(str(rec.get('profile')))}"
                f" · seeds {html.escape(str(rec.get('seeds')))} · {len(rec.get('runs', []))} runs read · commit "
                f"{html.escape(commit)}")
    except ValueError:
        prov = "no provenance recorded"
    return (f'<figure id="{html.escape(name)}"><img src="{html.escape(rel)}" alt="{html.escape(caption)}" '
            f'loading="lazy"><figcaption><b>{html.escape(name)}</b>: {html.escape(caption)}'
            f'<br><span class="prov">{prov}</span></figcaption></figure>')


def build(profile: str, results: Path | None = None, figures: Path | None = None) -> Path:
    """Write ``<results>/<profile>/report/`` (index.html, one HTML page per notebook, figures/); return the index."""
    root = Path(results or RESULTS) / profile
    fig_dir = Path(figures or FIGURES) / profile
    nb_dir = root / "notebooks"
    executed = sorted(nb_dir.glob("[0-9][0-9]_*.ipynb")) if nb_dir.is_dir() else []
    if not executed:
        raise FileNotFoundError(f"{nb_dir}: no executed notebooks; run `make reproduce PROFILE={profile}` first")
    out = root / "report"
    if out.exists():
        shutil.rmtree(out)
    (out / "figures").mkdir(parents=True)
    notebooks = [export_notebook(src, out / f"{src.stem}.html") for src in executed]
    pngs = sorted(fig_dir.glob("*.png")) if fig_dir.is_dir() else []
    for png in pngs:
        shutil.copyfile(png, out / "figures" / png.name)

    git = provenance.git_state()
    parts = [f"<h1>m2dino: a reproduction at profile <code>{html.escape(profile)}</code></h1>",
             f"<p>Code at commit <code>{html.escape(str(git['commit']))}</code>"
             f"{' (with uncommitted changes)' if git.get('dirty') else ''}. Companion to “Understanding Task "
             "Aggregation for Generalizable Ultrasound Foundation Models” (arXiv 2603.18123).</p>"]
    if profile in ("smoke", "demo"):
        parts.append('<p class="note">Every number and figure here comes from <b>synthetic data</b>, a physics-based '
                     "stand-in for the FMC_UIA release, at a reduced scale. It shows that the pipeline reproduces the "
                     "study's protocol, not that the study's numbers hold.</p>")
    rows = "".join(f'<tr><td><a href="{html.escape(n.html)}">{html.escape(n.name)}</a></td><td>{n.status}</td>'
                   f"<td>{'' if n.seconds is None else f'{n.seconds:.0f} s'}</td></tr>" for n in notebooks)
    parts.append(f'<h2>Notebooks</h2><table id="notebooks"><tr><th>notebook</th><th>status</th><th>time</th></tr>'
                 f"{rows}</table>")
    found = root / "tables" / "what_we_found.md"
    if found.is_file():
        text = found.read_text()
        head = "" if text.lstrip().startswith("#") else "<h2>What we found</h2>"  # the file may bring its own
        parts.append(f'{head}<div id="what-we-found">{markdown2html(text)}</div>')
    else:
        parts.append(f"<h2>What we found</h2><p>Not generated for this run ({html.escape(str(found))} is missing; "
                     "notebook 09 writes it).</p>")
    parts.append(f"<h2>Figures</h2><p>{len(pngs)} figures from <code>figures/{html.escape(profile)}/</code>; each "
                 "line under a figure is the provenance stored in the file (<code>python -m m2dino provenance "
                 "FILE</code>).</p>")
    parts += [_figure_html(png, f"figures/{png.name}") for png in pngs]
    page = (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>m2dino reproduction, "
            f"profile {html.escape(profile)}</title><style>{_STYLE}</style></head><body>\n" + "\n".join(parts)
            + "\n</body></html>\n")
    index = out / "index.html"
    index.write_text(page, encoding="utf-8")
    (out / "report.json").write_text(json.dumps({"profile": profile, **git, "notebooks": [n.__dict__ for n in notebooks],
                                                 "figures": [p.name for p in pngs]}, indent=1) + "\n")
    return index
