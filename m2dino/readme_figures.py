"""The README's three key figures, copied small from a reproduction: ``make readme-figures`` (profile demo).

Copies per-task change vs TS, the group changes beside the study's, and the derived guideline from
``figures/<profile>/`` to ``docs/img/`` at a width that suits a README page, keeping each figure's provenance record
(``m2dino.provenance``) in the copy, and rewrites the README block between the ``readme-figures`` markers: each
figure with its caption, the line "synthetic data, <profile> profile", and the run's date and commit. The date is
when papermill finished the notebook that drew the figure (its executed copy in ``results/<profile>/notebooks/``);
the commit is the one the figure file records.

``python -m m2dino.readme_figures [profile]``
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from PIL import Image, PngImagePlugin

from m2dino import provenance
from m2dino.paths import FIGURES, REPO, RESULTS

KEY_FIGURES = {
    "task_change_vs_ts": "Per-task change of the clinical-group (CG) and all-task (AU) models against task-specific "
                         "models (TS), with 95% CIs over seeds and test images.",
    "study_vs_ours_group_change": "Group-level change against TS: the study's reported values [S] beside ours.",
    "guideline_derived_vs_study": "The aggregation guideline derived from our runs, next to the study's.",
}
WIDTH = 900  # pixels of the README copies: legible on GitHub, a few hundred kB at most
BEGIN, END = "<!-- readme-figures:begin -->", "<!-- readme-figures:end -->"


def _run_date(rec: dict, results: Path, profile: str) -> str:
    """The date papermill finished the notebook that drew the figure (YYYY-MM-DD), or 'unknown'."""
    nb = results / profile / "notebooks" / (rec.get("notebook") or "")
    if rec.get("notebook") and nb.is_file():
        end = json.loads(nb.read_text()).get("metadata", {}).get("papermill", {}).get("end_time") or ""
        if re.match(r"\d{4}-\d\d-\d\d", end):
            return end[:10]
    return "unknown"


def copy_small(src: Path, dst: Path, rec: dict) -> None:
    """A ``WIDTH``-pixel-wide copy of ``src`` that keeps its provenance record (and says what it was copied from)."""
    with Image.open(src) as im:
        im = im.convert("RGB")
    if im.width > WIDTH:
        im = im.resize((WIDTH, round(im.height * WIDTH / im.width)), Image.Resampling.LANCZOS)
    im = im.quantize(256, dither=Image.Dither.NONE)  # charts have few colours: a palette PNG is a fraction the size
    info = PngImagePlugin.PngInfo()
    info.add_text(provenance.KEY, provenance.encode({**rec, "copied_from": src.name, "resized_to_width": WIDTH}))
    dst.parent.mkdir(parents=True, exist_ok=True)
    im.save(dst, pnginfo=info, optimize=True)


def block(profile: str, entries: list[dict]) -> str:
    """The README block: each figure, its caption and where it came from."""
    lines = [BEGIN, f"<!-- written by `make readme-figures` (python -m m2dino.readme_figures {profile}); do not edit -->"]
    for e in entries:
        commit = e["commit"][:10] + (" (with uncommitted changes)" if e["dirty"] else "")
        lines += ["", f"![{e['caption']}]({e['path']})", "",
                  f"*{e['caption']} Synthetic data, {profile} profile; run of {e['date']}, commit `{commit}`.*"]
    return "\n".join(lines + ["", END])


def update(profile: str = "demo", figures: Path = FIGURES, results: Path = RESULTS, out_dir: Path = REPO / "docs" / "img",
           readme: Path = REPO / "README.md") -> list[Path]:
    """Copy the key figures of ``profile`` to ``out_dir`` and rewrite the README block; return the copies."""
    text = readme.read_text()
    if BEGIN not in text or END not in text:
        raise ValueError(f"{readme}: no {BEGIN} ... {END} block to write the figures into")
    missing = [n for n in KEY_FIGURES if not (figures / profile / f"{n}.png").is_file()]
    if missing:
        raise FileNotFoundError(f"{figures / profile}: missing {', '.join(f'{n}.png' for n in missing)}; run "
                                f"`make reproduce PROFILE={profile}` first")
    entries, copies = [], []
    for name, caption in KEY_FIGURES.items():
        src = figures / profile / f"{name}.png"
        rec = provenance.read(src)
        dst = out_dir / f"{name}.png"
        copy_small(src, dst, rec)
        copies.append(dst)
        rel = dst.resolve().relative_to(readme.resolve().parent).as_posix()
        entries.append({"caption": caption, "path": rel, "date": _run_date(rec, results, profile),
                        "commit": str(rec.get("commit", "unknown")), "dirty": bool(rec.get("dirty"))})
    start, end = text.index(BEGIN), text.index(END) + len(END)
    readme.write_text(text[:start] + block(profile, entries) + text[end:])
    return copies


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    profile = args[0] if args else "demo"
    try:
        copies = update(profile)
    except (FileNotFoundError, ValueError) as e:
        print(f"readme-figures: {e}", file=sys.stderr)
        return 1
    for c in copies:
        print(f"wrote {c.relative_to(REPO)} ({c.stat().st_size // 1024} kB)")
    print("README.md: figure block rewritten")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
