"""JupyterLab and the HTML report, checked in a real browser (Playwright driving the system's Chromium).

One JupyterLab server for the session, started with ``make lab``'s configuration (``m2dino.lab.lab_command``) on a
loopback port with a token. For every numbered notebook: it opens without a dialog, its kernel is the project's
(``Python 3 (m2dino)``) and reaches idle, and the parameters and config cells run without an error output. One
notebook (00, the cheapest that draws a figure) is executed headlessly the way ``make reproduce PROFILE=smoke`` does
(papermill, ``M2DINO_HEADLESS=1``) and opened: its figure renders as an image. The report of that run is built with
``m2dino.html_report`` and its index is opened: every image loads and the notebook page it links exists. A
screenshot of each check goes to ``results/ui/``. Skipped, with the reason, when no Chromium is found.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from m2dino import lab
from m2dino.paths import FIGURES, NOTEBOOKS, REPO, RESULTS

pytest.importorskip("playwright", reason="playwright is not installed (pip install -e '.[dev]')")

UI_DIR = RESULTS / "ui"  # screenshots and the executed smoke run (git-ignored with results/)
RUN_ROOT = UI_DIR / "run"  # results root of the small reproduction the executed-notebook and report checks use
EXECUTED = "00_study_overview"  # no training, one figure: the cheapest notebook of make reproduce that draws
NUMBERED = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
TIMEOUT_MS = 120_000  # generous: the 2-core CI machine is often shared


@pytest.fixture(scope="session")
def browser_type_launch_args() -> dict:
    """pytest-playwright's launch options: the system Chromium, headless and offline (its download is never used).
    Playwright gives every launch a new, empty user-data directory."""
    exe = lab.chromium()
    if exe is None:
        pytest.skip(f"no Chromium found (install Debian's chromium, or set {lab.CHROMIUM_ENV}): browser tests skipped")
    return {"executable_path": exe, "args": list(lab.CHROMIUM_ARGS), "headless": True}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _api(base: str, token: str, path: str, method: str = "GET") -> object:
    req = urllib.request.Request(f"{base}{path}", method=method, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        body = r.read()
    return json.loads(body) if body else None


@pytest.fixture(scope="session")
def lab_server(browser_type_launch_args, tmp_path_factory):
    """JupyterLab as ``make lab`` starts it, on 127.0.0.1 with a random token; yields (base URL, token)."""
    home = tmp_path_factory.mktemp("jupyter")
    port, token = _free_port(), secrets.token_hex(16)
    # Never autosave (a test's cell outputs must not reach notebooks/), and no news toast over the screenshots.
    for plugin, value in (("docmanager-extension/plugin", {"autosave": False}),
                          ("apputils-extension/notification", {"fetchNews": "false"})):
        f = home / "settings" / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(json.dumps(value))
    env = {**os.environ, "M2DINO_PROFILE": "smoke", "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get(
        "PYTHONPATH", "")]).rstrip(os.pathsep), "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"), "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
        "TQDM_DISABLE": "1"}
    for var in ("PYTEST_CURRENT_TEST", "MPLBACKEND"):  # kernels as a user gets them: inline figures
        env.pop(var, None)
    cmd = lab.lab_command([f"--port={port}", "--ServerApp.ip=127.0.0.1", "--ServerApp.port_retries=0",
                           "--no-browser", f"--IdentityProvider.token={token}", "--LabApp.news_url=None",
                           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"])
    log = (home / "lab.log").open("w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            _api(base, token, "/api/status")
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"JupyterLab did not start ({' '.join(cmd)}):\n{(home / 'lab.log').read_text()[-3000:]}")
            time.sleep(0.5)
    yield base, token
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="session")
def ui_page(browser, lab_server):
    """One browser page, logged in once (the token sets the session cookie)."""
    base, token = lab_server
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{base}/lab?token={token}")
    page.locator(".jp-LabShell").wait_for()
    yield page
    context.close()


def _shutdown_sessions(base: str, token: str) -> None:
    for s in _api(base, token, "/api/sessions") or []:
        _api(base, token, f"/api/sessions/{s['id']}", method="DELETE")


def _open(page, base: str, token: str, rel: str, workspace: str):
    """Open ``rel`` (relative to the repository) in a fresh workspace, so no earlier notebook is restored."""
    page.goto(f"{base}/lab/workspaces/{workspace}/tree/{rel}?reset&token={token}")
    panel = page.locator(".jp-NotebookPanel:visible").first
    panel.locator(".jp-Notebook .jp-Cell").first.wait_for()
    return panel


def _wait_idle(page, base: str, token: str, rel: str) -> dict:
    """The server-side session of notebook ``rel`` once its kernel reports idle (raises after TIMEOUT_MS)."""
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        for s in _api(base, token, "/api/sessions") or []:
            if s["path"] == rel and s["kernel"] and s["kernel"]["execution_state"] == "idle":
                return s
        page.wait_for_timeout(250)
    raise AssertionError(f"{rel}: kernel did not reach idle in {TIMEOUT_MS // 1000} s")


def _no_dialog(page, what: str) -> None:
    dialogs = page.locator(".jp-Dialog")
    if dialogs.count():
        raise AssertionError(f"{what}: a dialog opened: {dialogs.first.inner_text()[:300]!r}")


def _code_cells(nb_path: Path) -> tuple[int, int]:
    """Indices (among all cells) of the parameters cell and of the next code cell (the config cell)."""
    cells = json.loads(nb_path.read_text())["cells"]
    param = next(i for i, c in enumerate(cells) if "parameters" in c.get("metadata", {}).get("tags", []))
    config = next(i for i in range(param + 1, len(cells)) if cells[i]["cell_type"] == "code")
    return param, config


@pytest.mark.parametrize("nb", NUMBERED, ids=lambda p: p.stem)
def test_notebook_opens_with_project_kernel_and_first_cells_run(ui_page, lab_server, nb):
    base, token = lab_server
    rel = f"notebooks/{nb.name}"
    page = ui_page
    try:
        panel = _open(page, base, token, rel, f"nb{nb.stem[:2]}")
        session = _wait_idle(page, base, token, rel)
        _no_dialog(page, nb.name)
        spec = _api(base, token, "/api/kernelspecs")["kernelspecs"][session["kernel"]["name"]]
        assert spec["spec"]["display_name"] == lab.KERNEL_DISPLAY_NAME, f"{nb.name}: kernel {spec['spec']}"
        kernel_label = panel.locator(".jp-Toolbar .jp-KernelName, [data-jp-item-name='kernelName']").first
        assert lab.KERNEL_DISPLAY_NAME in kernel_label.inner_text()

        param, config = _code_cells(nb)
        cells = panel.locator(".jp-Notebook > .jp-WindowedPanel-outer .jp-Cell, .jp-Notebook .jp-Cell")
        cells.nth(param).locator(".jp-InputPrompt").first.click()
        page.keyboard.press("Escape")  # command mode: Shift+Enter runs the selected cell and selects the next
        for _ in range(config - param + 1):
            page.keyboard.press("Shift+Enter")
        for i in (param, config):
            prompt = cells.nth(i).locator(".jp-InputPrompt").first
            page.wait_for_function("el => /\\[\\d+\\]/.test(el.textContent)", arg=prompt.element_handle(),
                                   timeout=TIMEOUT_MS)
        _wait_idle(page, base, token, rel)
        for i in (param, config):
            errors = cells.nth(i).locator("[data-mime-type='application/vnd.jupyter.error']")
            assert errors.count() == 0, f"{nb.name}, cell {i}: {errors.first.inner_text()[:500]}"
        _no_dialog(page, nb.name)
    finally:
        UI_DIR.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(UI_DIR / f"notebook_{nb.stem}.png"))
        _shutdown_sessions(base, token)


@pytest.fixture(scope="session")
def smoke_run() -> Path:
    """A small ``make reproduce PROFILE=smoke``: notebook 00 executed by papermill exactly as the Makefile does
    (headless, provenance variables set), into ``results/ui/run/smoke/notebooks/``, plus a stand-in "What we found"
    (the real one needs every training notebook, minutes at smoke). Returns the profile folder."""
    root = RUN_ROOT / "smoke"
    shutil.rmtree(root, ignore_errors=True)
    (root / "notebooks").mkdir(parents=True)
    env = {**os.environ, "M2DINO_PROFILE": "smoke", "M2DINO_HEADLESS": "1", "M2DINO_NOTEBOOK": f"{EXECUTED}.ipynb",
           "M2DINO_COMMAND": "make reproduce PROFILE=smoke", "PYTHONPATH": str(REPO)}
    for var in ("PYTEST_CURRENT_TEST", "MPLBACKEND", "TQDM_DISABLE"):  # as under make reproduce: inline figures
        env.pop(var, None)
    subprocess.run([sys.executable, "-m", "papermill", "-k", lab.KERNEL_NAME, "--cwd", str(NOTEBOOKS),
                    str(NOTEBOOKS / f"{EXECUTED}.ipynb"), str(root / "notebooks" / f"{EXECUTED}.ipynb"),
                    "-p", "profile", "smoke", "--log-level", "WARNING"], env=env, check=True, timeout=600)
    (root / "tables").mkdir()
    (root / "tables" / "what_we_found.md").write_text(
        "## What we found — browser-test stand-in\n\n- a stand-in line written by the test, not a finding\n")
    return root


def test_executed_notebook_renders_its_figures(ui_page, lab_server, smoke_run):
    base, token = lab_server
    rel = (smoke_run / "notebooks" / f"{EXECUTED}.ipynb").relative_to(REPO).as_posix()
    page = ui_page
    try:
        panel = _open(page, base, token, rel, "executed")
        _wait_idle(page, base, token, rel)
        _no_dialog(page, rel)
        images = panel.locator(".jp-RenderedImage img")
        images.first.scroll_into_view_if_needed()
        assert images.count() >= 1, f"{rel}: no figure in the page"
        for i in range(images.count()):
            img = images.nth(i)
            img.scroll_into_view_if_needed()
            page.wait_for_function("im => im.complete && im.naturalWidth > 0", arg=img.element_handle(),
                                   timeout=TIMEOUT_MS)
    finally:
        UI_DIR.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(UI_DIR / f"executed_{EXECUTED}.png"))
        _shutdown_sessions(base, token)


def test_report_index_shows_notebooks_figures_and_findings(browser, smoke_run):
    from m2dino.html_report import build

    index = build("smoke", results=RUN_ROOT, figures=FIGURES)
    context = browser.new_context(viewport={"width": 1200, "height": 1000})
    page = context.new_page()
    try:
        page.goto(index.as_uri())
        assert "stand-in line written by the test" in page.locator("#what-we-found").inner_text()
        link = page.locator("#notebooks a", has_text=EXECUTED)
        assert (index.parent / link.get_attribute("href")).is_file()
        images = page.locator("figure img")
        assert images.count() >= 1, "the report index shows no figure"
        for i in range(images.count()):
            img = images.nth(i)
            img.scroll_into_view_if_needed()
            page.wait_for_function("im => im.complete && im.naturalWidth > 0", arg=img.element_handle(),
                                   timeout=TIMEOUT_MS)
        caption = page.locator("figure#task_overview figcaption").inner_text()
        assert "27 tasks" in caption and "make reproduce PROFILE=smoke" not in caption  # caption, then provenance
        assert "00_study_overview.ipynb" in caption  # the provenance line read from the figure file
        UI_DIR.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(UI_DIR / "report_index.png"))
        page.goto((index.parent / link.get_attribute("href")).as_uri())
        assert page.locator("img").count() >= 1, "the exported notebook page shows no figure"
    except Exception:
        UI_DIR.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(UI_DIR / "report_index_failed.png"))
        raise
    finally:
        context.close()
