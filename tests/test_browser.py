"""The teaching widgets in a real browser: JupyterLab (headless, 127.0.0.1, a token) driven by
Chromium through Playwright. Opens 06_explore.ipynb, runs every cell, then changes the image picker,
moves the opacity slider, ticks a filter of the tile browser and presses Run in the phase-2
playground, checking after each that the rendered output changed (in the DOM, and a screenshot
compared before and after). Opens notebook 07 up to its tile labeller, labels three tiles and
checks the labels file after each click. Screenshots are kept in outputs/browser_test/.

Needs Debian's ``chromium`` (``apt-get install chromium``; ``.ci/run`` installs it) and the
``playwright`` Python package (a test extra; its own browser download is not used). Without
Chromium the test is skipped with that message, unless ``SSCNB_REQUIRE_BROWSER=1`` (set by
``.ci/run``), where it fails instead.
"""

from __future__ import annotations

import contextlib
import io
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest

from conftest import CHROMIUM_FLAGS, REPO, SAMPLE, chromium_path

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SHOTS = REPO / "outputs" / "browser_test"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory, colour_cnns):
    """A JupyterLab server on 127.0.0.1 with a token, serving a folder with 06_explore.ipynb (its
    parameters set to the sample data and a small CNN), ended by its process id.
    """
    chromium = chromium_path()
    pytest.importorskip("playwright", reason="pip install playwright (a test extra: pip install -e '.[test]')")
    import nbformat

    root = tmp_path_factory.mktemp("lab")
    model = colour_cnns(50)
    # the parameters cell edited as a teacher would (papermill's injected cell would mean a batch run)
    nb = nbformat.read(REPO / "notebooks" / "06_explore.ipynb", as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    values = {
        "data_dir": str(SAMPLE / "Validate"),
        "train_dir": str(SAMPLE / "Train"),
        "output_dir": str(root / "out"),
        "model_path": str(model.path),
        "phase2": "rf",
        "widgets": True,
    }
    cell.source += "\n" + "\n".join(f"{k} = {v!r}" for k, v in values.items())
    nbformat.write(nb, root / "06_explore.ipynb")
    # 07 up to the labeller (the fine-tuning after it needs the labels this test makes)
    nb = nbformat.read(REPO / "notebooks" / "07_adapt_to_river.ipynb", as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    values = {
        "data_dir": str(SAMPLE / "NewRiver"),
        "output_dir": str(root / "out07"),
        "model_path": str(model.path),
        "labels_file": str(root / "tile_labels.csv"),
        "start_labels": None,
        "widgets": True,
    }
    cell.source += "\n" + "\n".join(f"{k} = {v!r}" for k, v in values.items())
    last = next(i for i, c in enumerate(nb.cells) if "TileLabeller" in c.source)
    nb.cells = nb.cells[: last + 1]
    nbformat.write(nb, root / "07_labeller.ipynb")
    # 08 up to its point labeller, on a sample drawn from the sample survey's reference raster (a class map)
    nb = nbformat.read(REPO / "notebooks" / "08_accuracy_and_areas.ipynb", as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    values = {
        "output_dir": str(root / "out08"),
        "image_path": str(SAMPLE / "Survey" / "Clearwater_ortho.tif"),
        "map_path": str(SAMPLE / "Reference" / "Clearwater_ortho_labels.tif"),
        "n_points": 60,
        "min_per_class": 10,
        "reference": None,
        "widgets": True,
    }
    cell.source += "\n" + "\n".join(f"{k} = {v!r}" for k, v in values.items())
    last = next(i for i, c in enumerate(nb.cells) if "PointLabeller" in c.source)
    nb.cells = nb.cells[: last + 1]
    nbformat.write(nb, root / "08_labeller.ipynb")
    settings = root / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false", "checkForUpdates": false}')
    port, token = _free_port(), secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}  # the kernel draws inline, as for a user
    env.update(
        JUPYTER_CONFIG_DIR=str(root / "config"),
        JUPYTER_RUNTIME_DIR=str(root / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(root / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(root / "workspaces"),
    )
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.terminals_enabled=False",
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # CI runs as root
    log = open(root / "jupyterlab.log", "w")  # noqa: SIM115 - the server writes to it until it is ended below
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        t0 = time.monotonic()
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() - t0 > 120:
                    raise RuntimeError("JupyterLab did not start:\n" + (root / "jupyterlab.log").read_text()[-3000:]) from None
                time.sleep(0.5)
        # each test in a workspace of its own, so that one does not reopen the other's notebook
        yield {
            "url": f"http://127.0.0.1:{port}/lab/workspaces/w06/tree/06_explore.ipynb?token={token}",
            "chromium": chromium,
            "root": root,
            "url07": f"http://127.0.0.1:{port}/lab/workspaces/w07/tree/07_labeller.ipynb?token={token}",
            "url08": f"http://127.0.0.1:{port}/lab/workspaces/w08/tree/08_labeller.ipynb?token={token}",
        }
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)  # the server and the kernel it started
            proc.wait(20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def _pixels(png: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), np.int16)


def _changed_share(before: bytes, after: bytes) -> float:
    """Share of pixels that differ between two screenshots (1.0 when their sizes differ)."""
    a, b = _pixels(before), _pixels(after)
    if a.shape != b.shape:
        return 1.0
    return float((np.abs(a - b).max(axis=-1) > 8).mean())


def _wait_changed(page, css: str, prop: str, old: str) -> None:
    """Wait until the element now matching ``css`` (outputs are redrawn: new elements) has another
    ``prop`` (e.g. an image's src, a table's innerText).
    """
    page.wait_for_function(
        "([css, prop, old]) => { const e = document.querySelector(css); return e !== null && e[prop] !== old; }",
        arg=[css, prop, old],
    )


def _shot(page, locator, name: str) -> bytes:
    SHOTS.mkdir(parents=True, exist_ok=True)
    png = locator.screenshot()
    (SHOTS / f"{name}.png").write_bytes(png)
    page.screenshot(path=str(SHOTS / f"{name}_page.png"))
    return png


def _open_and_run_all(page, url: str, last_selector: str) -> None:
    """Open a notebook in JupyterLab, run all its cells, wait for every prompt to be numbered and
    for ``last_selector`` to be on the page.
    """
    page_timeout = int(os.environ.get("SSCNB_BROWSER_TIMEOUT_MS", 120_000))
    page.set_default_timeout(page_timeout)
    page.goto(url)
    page.wait_for_function("() => window.jupyterapp !== undefined && document.querySelector('.jp-Notebook')")
    # the kernel has started and is idle (the status bar says so), then Run > Run All Cells
    page.wait_for_function("() => /\\(ipykernel\\)\\s*\\|\\s*Idle/.test(document.body.innerText)")
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    # every code cell ran (a number in its prompt) and the last tool is on the page
    page.wait_for_function(
        """() => {
        const p = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(e => e.textContent);
        return p.length > 0 && p.every(t => /\\[\\d+\\]/.test(t)); }""",
        timeout=3 * page_timeout,
    )
    page.wait_for_selector(last_selector)


@contextlib.contextmanager
def _notebook_page(lab, url: str, last_selector: str, failed_png: str):
    """Chromium on ``url``: every cell run (:func:`_open_and_run_all`), no traceback or widget error in
    the outputs; the page is yielded, screenshotted as ``failed_png`` if the test fails, then closed.
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=lab["chromium"], args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            _open_and_run_all(page, url, last_selector)
            outputs = page.locator(".jp-OutputArea-output").all_inner_texts()
            assert not [t for t in outputs if "Traceback" in t or "Error displaying widget" in t], outputs
            yield page
        except Exception:
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / failed_png), full_page=True)
            raise
        finally:
            browser.close()


def test_notebook_07_labeller_saves_each_click(lab):
    """Label three tiles in Chromium (water, dry sediment, mixed); the labels file holds them, in order."""
    from sscnb import labels
    from sscnb.data._classes import ClassScheme

    path = lab["root"] / "tile_labels.csv"
    with _notebook_page(lab, lab["url07"], ".sscnb-labeller img", "failed_page_07.png") as page:
        tool = page.locator(".sscnb-labeller")
        picture = tool.locator("img")
        shown = []
        for i, (name, code) in enumerate((("water", 1), ("dry sediment", 2), ("mixed", 0))):
            before_src = picture.get_attribute("src")
            shown.append(tool.locator(".widget-html").first.inner_text())
            before = _shot(page, tool, f"8_labeller_{i}")
            tool.locator("button", has_text=name).first.click()
            _wait_changed(page, ".sscnb-labeller img", "src", before_src)
            t = labels.read_tile_labels(path, ClassScheme.default(), 50)
            assert len(t) == i + 1
            assert int(t.class_code.iloc[-1]) == code
            assert _changed_share(before, _shot(page, tool, f"8_labeller_{i}_after")) > 0.01
        t = labels.read_tile_labels(path, ClassScheme.default(), 50)
        assert list(t.class_code) == [1, 2, 0]
        for (img, r, c), caption in zip(zip(t.image, t.tile_row, t.tile_col, strict=True), shown, strict=True):
            assert f"{img}, tile row {r}, column {c}" in caption  # the tile that was on screen
        assert "water 1, dry sediment 1" in tool.inner_text()
        assert "mixed 1" in tool.inner_text()


def test_notebook_08_point_labeller_saves_each_click_and_resumes(lab):
    """Label three points in Chromium (water, green vegetation, cannot tell): points.csv holds them at
    once; a new session on the file starts at the next point.
    """
    import pandas as pd

    from sscnb.labels import _points as pointlabeller

    path = lab["root"] / "out08" / "assess" / "points.csv"
    with _notebook_page(lab, lab["url08"], ".sscnb-point-labeller img", "failed_page_08.png") as page:
        tool = page.locator(".sscnb-point-labeller")
        picture = tool.locator("img")
        for i, (name, code) in enumerate((("water", 1), ("green vegetation", 3), ("cannot tell", 0))):
            before_src = picture.get_attribute("src")
            before = _shot(page, tool, f"9_points_{i}")
            tool.locator("button", has_text=name).first.click()
            _wait_changed(page, ".sscnb-point-labeller img", "src", before_src)
            t = pd.read_csv(path)
            assert (t.reference_class != -1).sum() == i + 1
            assert (t.reference_class == code).sum() >= 1
            assert _changed_share(before, _shot(page, tool, f"9_points_{i}_after")) > 0.01
        assert "water 1" in tool.inner_text()
        assert "cannot tell 1" in tool.inner_text()
    t = pd.read_csv(path)
    assert sorted(t.reference_class[t.reference_class != -1]) == [0, 1, 3]
    assert len(t) == 60
    s = pointlabeller.PointSession(path, SAMPLE / "Survey" / "Clearwater_ortho.tif", seed=42)
    assert s.counts()["to do"] == 57
    assert t.reference_class[s.current()] == -1


def test_notebook_06_widgets_in_jupyterlab(lab):
    with _notebook_page(lab, lab["url"], ".sscnb-playground .sscnb-picture img", "failed_page.png") as page:
        # the map explorer: another image, then the opacity slider
        explorer = page.locator(".sscnb-map-explorer")
        picture = explorer.locator(".sscnb-picture img")
        table = explorer.locator(".sscnb-f1-table")
        before_src, before_table = picture.get_attribute("src"), table.inner_text()
        # the map first and large: at least 800 px wide in a 1366 px window, above its F1 table
        page.set_viewport_size({"width": 1366, "height": 1000})
        page.wait_for_timeout(300)
        box, tbox = picture.bounding_box(), table.bounding_box()
        assert box["width"] >= 800, box
        assert tbox["y"] >= box["y"] + box["height"] - 1, (box, tbox)
        page.set_viewport_size({"width": 1400, "height": 1000})
        before = _shot(page, explorer, "1_explorer_first_image")
        select = explorer.locator(".widget-dropdown select")
        options = select.locator("option").all_inner_texts()
        assert len(options) >= 2
        select.select_option(label=options[1])
        _wait_changed(page, ".sscnb-map-explorer .sscnb-picture img", "src", before_src)
        _wait_changed(page, ".sscnb-map-explorer .sscnb-f1-table", "innerText", before_table)
        after = _shot(page, explorer, "2_explorer_second_image")
        assert _changed_share(before, after) > 0.05

        slider = explorer.locator(".widget-hslider").filter(has_text="opacity")
        readout = slider.locator(".widget-readout")
        assert readout.inner_text().strip() == "0.60"
        before_src = picture.get_attribute("src")
        slider.locator(".noUi-handle").focus()
        page.keyboard.press("End")  # the slider's maximum: the layer alone
        page.wait_for_function("el => el.innerText.trim() === '1.00'", arg=readout.element_handle())
        _wait_changed(page, ".sscnb-map-explorer .sscnb-picture img", "src", before_src)
        opaque = _shot(page, explorer, "3_explorer_opacity_1")
        assert _changed_share(after, opaque) > 0.05

        # the tile browser: only the misclassified tiles, then all of them
        tiles = page.locator(".sscnb-tile-browser")
        tiles_img = tiles.locator(".sscnb-picture img")
        before_src = tiles_img.get_attribute("src")
        wrong_only = _shot(page, tiles, "4_tiles_misclassified")
        tiles.locator("input[type=checkbox]").click()
        _wait_changed(page, ".sscnb-tile-browser .sscnb-picture img", "src", before_src)
        assert _changed_share(wrong_only, _shot(page, tiles, "5_tiles_all")) > 0.05

        # the playground: a larger median radius, then Run
        play = page.locator(".sscnb-playground")
        play_img = play.locator(".sscnb-picture img")
        status = play.locator(".sscnb-status")
        before_src = play_img.get_attribute("src")
        before = _shot(page, play, "6_playground_before_run")
        radius = play.locator(".widget-hslider").filter(has_text="median_radius")
        # every control's name is shown whole ("median_radius", not "median_r..."): no label is cut
        for label in play.locator(".widget-label").all():
            assert label.evaluate("el => el.scrollWidth <= el.clientWidth + 1"), label.inner_text()
        start = int(radius.locator(".widget-readout").inner_text().strip())  # the notebook's setting
        radius.locator(".noUi-handle").focus()
        for _ in range(3):
            page.keyboard.press("ArrowRight")
        page.wait_for_function(
            f"el => el.innerText.trim() === '{start + 3}'", arg=radius.locator(".widget-readout").element_handle()
        )
        play.locator("button", has_text="Run").click()
        page.wait_for_function("el => el.innerText.startsWith('run 3:')", arg=status.element_handle())
        _wait_changed(page, ".sscnb-playground .sscnb-picture img", "src", before_src)
        after = _shot(page, play, "7_playground_after_run")
        assert "RF F1" in status.inner_text()
        assert _changed_share(before, after) > 0.05
