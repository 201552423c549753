"""``make lab``'s configuration in one place, shared by the Makefile and the browser tests.

JupyterLab serves the repository (so executed copies in ``results/`` and figures are one click away) and opens on
``notebooks/``; the notebooks name the project's kernel, ``Python 3 (m2dino)`` (kernel name ``python3``, installed
into the environment by ``make setup``). JupyterLab refuses to start as root without ``--allow-root`` (CI containers
run as root), so that flag is added exactly when the user is root.

``python -m m2dino.lab [extra jupyter-lab options]`` runs it.
"""
from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence

from m2dino.paths import REPO

KERNEL_NAME = "python3"
KERNEL_DISPLAY_NAME = "Python 3 (m2dino)"
CHROMIUM_ENV = "M2DINO_CHROMIUM"  # a Chromium executable to use instead of the one on PATH
# Flags for a headless, offline, throwaway Chromium: no sandbox (CI runs as root), nothing phoning home.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def chromium() -> str | None:
    """The system Chromium the browser tests drive (``$M2DINO_CHROMIUM``, else ``chromium`` or ``chromium-browser`` on
    PATH), or None. Playwright's own browser download is never used."""
    env = os.environ.get(CHROMIUM_ENV)
    if env:
        return env if os.access(env, os.X_OK) else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


def lab_command(extra: Sequence[str] = (), python: str | None = None) -> list[str]:
    """The ``jupyter lab`` command line of ``make lab`` (plus ``extra`` options, e.g. a port and a token)."""
    cmd = [python or sys.executable, "-m", "jupyter", "lab", f"--ServerApp.root_dir={REPO}",
           "--LabApp.default_url=/lab/tree/notebooks"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    return cmd + list(extra)


def main(argv: Sequence[str] | None = None) -> None:
    """Replace this process with JupyterLab (so Ctrl-C and signals reach it directly)."""
    cmd = lab_command(sys.argv[1:] if argv is None else argv)
    os.execv(cmd[0], cmd)


if __name__ == "__main__":
    main()
