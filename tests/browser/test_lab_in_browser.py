"""The lab as a learner sees it: JupyterLab in headless Chromium, cells run from the Run menu.

Starts JupyterLab from this Python's environment on a free local port (no token, fast mode,
``PYTHONPATH`` = this repository, the project's ``binder/overrides.json`` as its settings, a
copy of ``notebooks/`` as its root, so the repository's notebooks stay without outputs) and
drives Debian's ``chromium`` with Playwright. Notebook 01 (sliders) and 06 (training, Train
button) run through the UI; the other notebooks are left to nbval. Screenshots go to
``runs/browser/``. Skips, saying why, where Chromium or Playwright is missing
(``make browser`` installs Chromium with apt-get).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "runs" / "browser"
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root
    "--headless",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",  # containers often have a tiny /dev/shm
]
RUN_TIMEOUT_S = 300  # a cap on one notebook's Run All (fast mode); it takes 20-150 s

# every cell output a learner could read as an error (stderr boxes, tracebacks, broken widgets)
FIND_PROBLEMS = """() => {
  const problems = [];
  for (const el of document.querySelectorAll('.jp-OutputArea-output')) {
    const mime = el.getAttribute('data-mime-type') || '';
    const text = el.innerText || '';
    if (mime.includes('stderr') || mime.includes('error') || /Traceback|Error displaying widget/.test(text)) {
      problems.push(mime + ': ' + text.slice(0, 300));
    }
  }
  return problems;
}"""

# every PNG the dashboard image shows, as (byte length, checksum), and how many dashboards exist
WATCH_DASHBOARD = """() => {
  const PANEL_IMG = '.widget-output img.qgan-dashboard';  // the Train panel's, not the trainer cell's
  window.qganFrames = [];
  const seen = new Set();
  const record = (img) => {
    if (!img.src || seen.has(img.src)) return;
    seen.add(img.src);
    fetch(img.src).then(r => r.arrayBuffer()).then(buf => {
      const bytes = new Uint8Array(buf);
      let sum = 0;
      for (let i = 0; i < bytes.length; i++) sum = (sum * 31 + bytes[i]) >>> 0;
      window.qganFrames.push([bytes.length, sum, document.querySelectorAll(PANEL_IMG).length]);
    });
  };
  new MutationObserver(() => document.querySelectorAll(PANEL_IMG).forEach(record))
    .observe(document.body, {subtree: true, childList: true, attributes: true, attributeFilter: ['src']});
}"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def browser(chromium_path):
    from playwright import sync_api

    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def lab(tmp_path_factory, browser):
    """URL of a JupyterLab serving this repository, with the project's lab settings."""
    tmp = tmp_path_factory.mktemp("lab")
    # the lab serves a copy: what the browser runs (and could save) never touches the repository
    shutil.copytree(ROOT / "notebooks", tmp / "root" / "notebooks")
    settings = json.loads((ROOT / "binder" / "overrides.json").read_text())
    # test only: every cell stays in the DOM (all outputs can be inspected), nothing is autosaved
    settings.setdefault("@jupyterlab/notebook-extension:tracker", {})["windowingMode"] = "none"
    settings["@jupyterlab/docmanager-extension:plugin"] = {"autosave": False}
    (tmp / "app-settings").mkdir()
    (tmp / "app-settings" / "overrides.json").write_text(json.dumps(settings))
    port = _free_port()
    env = {
        **os.environ,
        "QGAN_LAB_FAST": "1",
        "PYTHONPATH": str(ROOT),
        "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(tmp / "user-settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp / "workspaces"),
        "TF_CPP_MIN_LOG_LEVEL": "2",
        # a kernel's own default, set explicitly: an inherited MPLBACKEND=Agg would draw nothing
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
    }
    command = [
        sys.executable,
        "-m",
        "jupyter",
        "lab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--port-retries=0",
        "--IdentityProvider.token=",
        "--ServerApp.password=",
        f"--ServerApp.root_dir={tmp / 'root'}",
        f"--LabApp.app_settings_dir={tmp / 'app-settings'}",
    ]
    if os.geteuid() == 0:  # CI runs as root
        command.append("--allow-root")
    log = open(tmp / "jupyter.log", "w")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp / "root")
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{url}/api/status", timeout=2)
                break
            except OSError:
                assert server.poll() is None, (tmp / "jupyter.log").read_text()
                time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def _open_and_run_all(browser, lab, notebook: str):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    # a workspace of its own: only this notebook is open, so the Run menu acts on it
    page.goto(f"{lab}/lab/workspaces/{notebook.removesuffix('.ipynb')}/tree/notebooks/{notebook}?reset")
    page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=60_000)
    page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(timeout=60_000)
    page.wait_for_timeout(1000)
    # binder/overrides.json starts the kernel without asking; should a slow start still ask, answer
    dialog = page.locator(".jp-Dialog", has_text="Select Kernel")
    if dialog.count():
        dialog.locator("button", has_text="Select").click()
    page.locator(".jp-Notebook .jp-Cell").first.click()  # focus: the notebook is the current widget
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.locator("li.lm-Menu-item[data-command='runmenu:run-all']").click()
    # done when the kernel is idle again and every code cell has an execution number, or at the
    # first error (Run All stops there: the cells below it never get a number)
    try:
        page.wait_for_function(
            """() => {
              if (document.querySelector('.jp-OutputArea-output[data-mime-type*="error"]')) return true;
              const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')];
              const busy = document.querySelector(".jp-Notebook-ExecutionIndicator[data-status='busy']");
              return !busy && prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
            }""",
            timeout=RUN_TIMEOUT_S * 1000,
            polling=500,
        )
    except Exception:
        _shot(page, notebook.removesuffix(".ipynb") + "_timeout")
        prompts = page.evaluate(
            "() => [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')].map(p => p.textContent)"
        )
        raise AssertionError(f"{notebook}: Run All did not finish in {RUN_TIMEOUT_S} s; prompts {prompts}") from None
    # this run replaces nbval's for this notebook (conftest.py): every cell ran, none failed
    problems = page.evaluate(FIND_PROBLEMS)
    if problems:
        _shot(page, notebook.removesuffix(".ipynb") + "_error")
    assert problems == [], f"{notebook}: {problems}"
    unnumbered = page.evaluate(
        "() => [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')]"
        ".filter(p => !/\\[\\d+\\]/.test(p.textContent)).length"
    )
    assert unnumbered == 0, f"{notebook}: {unnumbered} code cells never ran"
    return page


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def test_notebook_01_sliders_are_widgets_that_redraw_the_plot(browser, lab):
    page = _open_and_run_all(browser, lab, "01_cv_circuits.ipynb")
    assert page.evaluate(FIND_PROBLEMS) == []
    panel = page.locator(".jp-OutputArea-output .widget-vbox").filter(has=page.locator(".widget-slider")).first
    panel.scroll_into_view_if_needed()
    plot = panel.locator(".widget-output img").first
    plot.wait_for(timeout=120_000)  # generous: on a loaded 2-core CI machine the first draw can lag
    _shot(page, "01_cv_circuits")
    before = plot.get_attribute("src")
    handle = panel.locator(".widget-slider .noUi-handle, .widget-slider [role='slider']").first
    handle.focus()
    handle.press("ArrowRight")
    page.wait_for_function(
        "([el, old]) => { const img = el.querySelector('.widget-output img'); return img && img.src !== old; }",
        arg=[panel.element_handle(), before],
        timeout=30_000,
    )
    _shot(page, "01_cv_circuits_after_slider")
    assert page.evaluate(FIND_PROBLEMS) == []


def test_notebook_06_train_button_is_busy_and_redraws_the_dashboard_in_place(browser, lab):
    page = _open_and_run_all(browser, lab, "06_training_loop.ipynb")
    assert page.evaluate(FIND_PROBLEMS) == []
    _shot(page, "06_training_loop")
    page.evaluate(WATCH_DASHBOARD)
    button = page.locator("button.jupyter-button", has_text="Train").first
    button.scroll_into_view_if_needed()
    button.click()
    busy = page.locator("button.jupyter-button", has_text="training...")
    busy.wait_for(timeout=10_000)
    assert busy.is_disabled()
    _shot(page, "06_train_running")
    page.locator("button.jupyter-button:not([disabled])", has_text="Train").wait_for(timeout=RUN_TIMEOUT_S * 1000)
    page.wait_for_timeout(1000)  # the last frame's fetch
    frames = page.evaluate("() => window.qganFrames")
    dashboards = page.locator(".widget-output img.qgan-dashboard")
    dashboards.first.scroll_into_view_if_needed()
    _shot(page, "06_train_done")
    # one dashboard, redrawn once per epoch (2 in fast mode), each frame a different image
    assert dashboards.count() == 1
    assert len(frames) >= 2 and all(n == 1 for _, _, n in frames), frames
    assert len({(size, checksum) for size, checksum, _ in frames}) == len(frames), frames
    assert page.evaluate(FIND_PROBLEMS) == []
    # binder/overrides.json: no news prompt popped up over the plots during the whole run
    assert page.locator(".Toastify__toast", has_text="news").count() == 0
