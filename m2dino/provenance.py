"""Where a figure came from, written into the figure file itself.

Every figure saved by :func:`m2dino.plotting.save_figure` carries, in its PNG text chunk / PDF Info dictionary under
the key ``m2dino:provenance`` (PDF: its Subject,
prefixed by that key), a JSON record: the notebook and the command that made it, the profile, its seeds and
the data seed (from the last config composed by :func:`m2dino.config.load` in this process), the runs this process
had read when the figure was saved (run folder relative to the results folder, with the run hash it was read under,
from ``m2dino.runs``), and the code's git commit with a dirty flag. Nothing in it is a time, so the same inputs give
the same bytes.
``python -m m2dino provenance figures/demo/<name>.png`` prints it.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from m2dino.paths import REPO, RESULTS

KEY = "m2dino:provenance"
NOTEBOOK_ENV = "M2DINO_NOTEBOOK"  # set by `make reproduce` to the notebook papermill runs
COMMAND_ENV = "M2DINO_COMMAND"  # set by `make reproduce` to the make command line

_config: dict[str, Any] = {}
_runs: dict[Path, str | None] = {}


def note_config(cfg: Any) -> None:
    """Remember the profile, seeds and data seed of the config this process works with (called by config.load)."""
    try:
        _config.clear()
        _config.update(profile=str(cfg.profile.name), seeds=[int(s) for s in cfg.plan.seeds],
                       seed=int(cfg.seed), data_seed=cfg.data.get("seed"), data_source=str(cfg.data.source))
    except Exception:  # noqa: BLE001 - a partial config (tests) simply leaves nothing to report
        _config.clear()


def note_run(run_dir: Path | str, run_hash: str | None = None) -> None:
    """Remember that this process read results from ``run_dir``, finished under ``run_hash`` (None: unfinished);
    called by the readers of run folders (``m2dino.runs``)."""
    _runs[Path(run_dir).resolve()] = run_hash


def forget() -> None:
    """Start afresh (tests; one notebook kernel per notebook needs nothing)."""
    _config.clear()
    _runs.clear()


def _rel(path: Path) -> str:
    for base in (RESULTS.resolve(), REPO):
        try:
            return path.relative_to(base).as_posix()
        except ValueError:
            continue
    return path.as_posix()


def git_state() -> dict[str, Any]:
    """The code's commit and whether tracked files differ from it (``unknown`` outside a git checkout)."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return {"commit": "unknown", "dirty": None}
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                                capture_output=True, text=True, timeout=30)
        return {"commit": head.stdout.strip(), "dirty": bool(status.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": "unknown", "dirty": None}


def _origin() -> tuple[str, str]:
    """(notebook, command): from ``make reproduce``'s variables, JupyterLab's session, or this process's arguments."""
    notebook = os.environ.get(NOTEBOOK_ENV) or os.environ.get("JPY_SESSION_NAME") or ""
    command = os.environ.get(COMMAND_ENV, "")
    if not command:
        argv = list(sys.argv)
        first = Path(argv[0]).name if argv else ""
        if "ipykernel" in first or "ipykernel" in " ".join(argv[:2]):
            command = "notebook kernel"  # its arguments name a random connection file: not provenance
        elif argv and argv[0].endswith(os.path.join("m2dino", "__main__.py")):
            command = " ".join(["python -m m2dino", *argv[1:]])
        else:
            command = " ".join([first, *argv[1:]])
    return (Path(notebook).name if notebook else ""), command


def record() -> dict[str, Any]:
    """The provenance of a figure saved now (see the module docstring); sorted and time-free."""
    notebook, command = _origin()
    runs = [{"run": _rel(d), "hash": _runs[d]} for d in sorted(_runs)]
    return {"notebook": notebook, "command": command, **_config, "runs": runs, **git_state()}


def encode(rec: dict[str, Any]) -> str:
    """One ASCII line of JSON: PNG tEXt chunks and PDF strings both carry it unchanged."""
    return json.dumps(rec, sort_keys=True, ensure_ascii=True, separators=(",", ":"))


def _pdf_unescape(raw: bytes) -> str:
    out, i = bytearray(), 0
    while i < len(raw):
        c = raw[i]
        if c == 0x5C and i + 1 < len(raw):  # backslash escape
            n = raw[i + 1]
            out.append({ord("n"): 10, ord("r"): 13, ord("t"): 9, ord("b"): 8, ord("f"): 12}.get(n, n))
            i += 2
        else:
            out.append(c)
            i += 1
    return out.decode("latin-1")


def read(path: Path | str) -> dict[str, Any]:
    """The provenance record stored in a PNG or PDF figure; a clear error naming the file when there is none."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such figure")
    suffix = path.suffix.lower()
    if suffix == ".png":
        from PIL import Image

        with Image.open(path) as im:
            text = dict(getattr(im, "text", {}) or {})
        raw = text.get(KEY)
    elif suffix == ".pdf":
        m = re.search(rb"/Subject\s*\(((?:\\.|[^\\)])*)\)", path.read_bytes())
        subject = _pdf_unescape(m.group(1)) if m else ""
        raw = subject[len(KEY):].strip() if subject.startswith(KEY) else None
    else:
        raise ValueError(f"{path}: provenance is stored in .png and .pdf figures only")
    if raw is None:
        raise ValueError(f"{path}: carries no {KEY} record (saved before provenance was recorded, or not by "
                         "m2dino.plotting.save_figure)")
    try:
        return json.loads(raw)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: the {KEY} record is not JSON ({e})") from e


def describe(rec: dict[str, Any]) -> str:
    """A readable multi-line rendering of a record, for the CLI."""
    lines = [f"notebook:  {rec.get('notebook') or '(none)'}", f"command:   {rec.get('command') or '(unknown)'}",
             f"profile:   {rec.get('profile', '(unknown)')}", f"seeds:     {rec.get('seeds', '(unknown)')}",
             f"data seed: {rec.get('data_seed', '(unknown)')} ({rec.get('data_source', '?')})",
             f"commit:    {rec.get('commit', 'unknown')}" + (" (dirty: uncommitted changes)" if rec.get("dirty") else ""),
             f"runs read: {len(rec.get('runs', []))}"]
    lines += [f"  {r['run']}  {r.get('hash') or '(unfinished)'}" for r in rec.get("runs", [])]
    return "\n".join(lines)
