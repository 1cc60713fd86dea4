"""Notebooks 00-05 run end to end by the runner on the sample data with a tiny budget; the
artefacts each writes are checked, and the model notebook 02 saved loads.
"""

import json

import pandas as pd
import pytest
import yaml

from conftest import SAMPLE, notebook_noise
from sscnb.batch._runner import run_suite
from sscnb.cnn import _files as modelfiles
from sscnb.cnn import _model as cnn

pytestmark = pytest.mark.slow  # trains a CNN and runs every notebook


def test_run_record(suite_run):
    run = json.loads((suite_run / "run.json").read_text())
    assert run["status"] == "finished"
    assert [n["notebook"] for n in run["notebooks"]] == [
        "00_data_check.ipynb",
        "01_cnn_tuning.ipynb",
        "02_cnn_training.ipynb",
        "03_ssc_evaluation.ipynb",
        "04_report.ipynb",
        "05_map_survey.ipynb",
        "06_explore.ipynb",
        "07_adapt_to_river.ipynb",
        "08_accuracy_and_areas.ipynb",
    ]


def test_notebook_00_checks_the_evaluation_folder_too(suite_run):
    inv = pd.read_csv(suite_run / "data_check" / "validate" / "inventory.csv")
    assert list(inv.image) == ["Clearwater_0005.jpg", "Clearwater_0006.jpg", "Muddyford_0005.jpg", "Muddyford_0006.jpg"]


def test_notebook_01_artefacts(suite_run):
    d = suite_run / "cnn_tuning"
    hist = pd.read_csv(d / "history.csv")
    assert list(hist.epoch) == [1, 2]
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(hist.columns)
    rec = json.loads((d / "recommended_epochs.json").read_text())
    assert rec["recommended_epochs"] in (1, 2)
    assert rec["epochs_tried"] == 2
    assert rec["recommended_epochs"] == cnn.recommend_epochs(hist)["recommended_epochs"]
    counts = pd.read_csv(d / "tiles_per_class.csv", index_col=0)
    assert set(counts.index) == {"Clearwater", "Muddyford"}
    assert counts.values.sum() > 500
    for png in ("history.png", "tile_samples.png"):
        assert (d / png).stat().st_size > 10_000


def test_notebook_02_model_and_evaluation(suite_run):
    d = suite_run / "model"
    rec = json.loads((suite_run / "cnn_tuning" / "recommended_epochs.json").read_text())
    card = json.loads((d / "tiny_cnn_card.json").read_text())
    assert card["epochs"] == rec["recommended_epochs"]
    assert "notebook 01" in card["epochs_source"]
    assert card["backbone"] == "compact"
    assert card["experiment"] == "tiny"
    cnn = modelfiles.load_model(d / "tiny_cnn.keras")
    assert cnn.key.local_classes
    assert cnn.key.rivers == ["Clearwater", "Muddyford"]
    assert cnn.key.n_outputs == 10  # 5 classes x 2 rivers
    for name in ("training", "heldout"):
        t = pd.read_csv(d / f"tile_accuracy_{name}.csv")
        assert t["class"].iloc[-1] == "ALL"
        assert t["tiles"].iloc[:-1].sum() == t["tiles"].iloc[-1]
        assert (d / f"confusion_{name}.png").exists()
    assert len(pd.read_csv(d / "history.csv")) == card["epochs"]


def test_notebook_03_files(suite_run):
    from sscnb.assess._metrics import REPORT_COLUMNS, weighted_f1

    d = suite_run / "ssc"
    names = ["Clearwater_0005", "Clearwater_0006", "Muddyford_0005", "Muddyford_0006"]
    summary = pd.read_csv(d / "Summary_tiny.csv")
    assert list(summary.image) == names
    for n in names:
        for kind in ("CNN", "MLPRF"):  # the default phase 2, mlp_rf
            rep = pd.read_csv(d / f"{kind}_{n}_tiny.csv")
            assert list(rep.columns) == REPORT_COLUMNS
            assert rep.support.sum() > 400_000
        row = summary.set_index("image").loc[n]
        assert row.f1_final == pytest.approx(weighted_f1(pd.read_csv(d / f"MLPRF_{n}_tiny.csv")))
        mlp = pd.read_csv(d / f"MLPRF_{n}_tiny.csv").set_index("class")
        assert row.macro_f1_final == pytest.approx(mlp.f1_score[mlp.support > 0].mean())
        assert row["F1 dry sediment"] == pytest.approx(mlp.loc["dry sediment", "f1_score"])  # every class, each own column
        assert (d / f"SSC_tiny_{n}.png").exists()
        assert (d / "rasters" / f"{n}_tiny_MLPRF.tif").exists()
    t = pd.read_csv(d / "Timings_tiny.csv")
    assert list(t.image) == names
    assert (t.total > 0).all()
    assert (d / "F1_per_image_tiny.png").exists()


def test_extend_never_reruns_a_finished_notebook(suite_run):
    """--extend --only 03 in a finished run where 03 finished: kept as it is, nothing overwritten."""
    cfg = yaml.safe_load((suite_run / "run_config.yml").read_text())
    before = (suite_run / "ssc" / "MLPRF_Clearwater_0005_tiny.csv").stat().st_mtime_ns
    executed = (suite_run / "03_ssc_evaluation.ipynb").stat().st_mtime_ns
    msgs = []
    run_suite(cfg | {"_config_path": "x"}, only=["03"], extend=True, progress=False, log=msgs.append)
    assert any("03_ssc_evaluation.ipynb already finished" in m for m in msgs)
    run = json.loads((suite_run / "run.json").read_text())
    assert run["status"] == "finished"
    assert len(run["notebooks"]) == 9
    assert [n["notebook"][:2] for n in run["notebooks"]] == ["00", "01", "02", "03", "04", "05", "06", "07", "08"]
    assert (suite_run / "ssc" / "MLPRF_Clearwater_0005_tiny.csv").stat().st_mtime_ns == before
    assert (suite_run / "03_ssc_evaluation.ipynb").stat().st_mtime_ns == executed


def test_notebook_04_report(suite_run):
    from sscnb import report

    d = suite_run / "report"
    comp = pd.read_csv(d / "Compiled_tiny.csv")
    assert list(comp.columns) == report.COMPILED_COLUMNS
    assert comp.Image.nunique() == 4
    assert set(comp.Type) == {"CNN", "MLPRF"}
    assert set(comp.Sample) == {"InSample"}  # both sample rivers are in the CNN's training set
    assert set(comp.Model) == {"tiny_cnn"}
    overall = pd.read_csv(d / "F1_overall.csv").set_index("Type")
    # the overall figure equals notebook 03's (both weight each image's class F1 by its pixels)
    from sscnb.evaluation import overall_f1

    o3 = overall_f1(suite_run / "ssc", "tiny")
    assert overall.loc["MLPRF", "F1"] == pytest.approx(o3["MLPRF"])
    assert overall.loc["CNN", "F1"] == pytest.approx(o3["CNN"])
    for png in ("F1_violins.png", "support_per_class.png", "Confusion_CNN_all_images.png", "Confusion_MLPRF_all_images.png"):
        assert (d / png).stat().st_size > 5000
    cm = pd.read_csv(d / "Confusion_MLPRF_all_images.csv", index_col=0)
    assert cm.to_numpy().sum() == comp[(comp.Type == "MLPRF") & (comp.Class == "ALL")].Support.sum()


def test_notebook_05_maps_the_sample_orthomosaic(suite_run):
    """The map of the synthetic orthomosaic: GIS files present, no-data kept, and it agrees with the
    scene's own labels (the tiny 2-epoch CNN is enough on this clean synthetic scene).
    """
    import fiona
    import rasterio

    from sscnb.assess._metrics import class_report, weighted_f1
    from sscnb.synthetic import make_orthomosaic

    d = suite_run / "map"
    stem = "Clearwater_ortho_tiny"
    for suffix in (
        "_MLPRF.tif",
        "_MLPRF.qml",
        "_MLPRF.tif.aux.xml",
        "_CNN.tif",
        "_CNN_confidence.tif",
        "_MLPRF_areas.csv",
        "_MLPRF.gpkg",
        "_MLPRF.json",
        "_MLPRF_preview.png",
    ):
        assert (d / f"{stem}{suffix}").exists(), suffix
    man = json.loads((SAMPLE / "manifest.json").read_text())["orthomosaic"]
    _, label, valid = make_orthomosaic(man["scene_seed"])
    with rasterio.open(d / f"{stem}_MLPRF.tif") as ds:
        final = ds.read(1)
        assert ds.crs.to_string() == man["crs"]
    assert (final[~valid] == 0).all()
    assert (final[valid] > 0).all()
    f1 = weighted_f1(class_report(label, final, [1, 2, 3, 4, 5]))
    assert f1 > 0.8, f1
    areas = pd.read_csv(d / "Areas_tiny.csv")
    assert list(areas.input.unique()) == ["Clearwater_ortho.tif"]
    assert areas.area_m2.sum() == pytest.approx(valid.sum() * man["pixel_m"] ** 2)
    with fiona.open(d / f"{stem}_MLPRF.gpkg") as src:
        assert len(src) > 0


def test_notebook_06_draws_its_tools_without_waiting(suite_run):
    """Run by papermill, the teaching notebook shows its tools as static figures even though the
    config asks for widgets (nobody is there to use them, and widgets can stall papermill's client);
    the static figures are written too.
    """
    import nbformat

    d = suite_run / "explore"
    assert (d / "explorer_Clearwater_0005.png").stat().st_size > 10_000
    assert (d / "playground_Clearwater_0005.png").stat().st_size > 10_000
    assert (d / "tiles_cnn.png").stat().st_size > 5_000
    nb = nbformat.read(suite_run / "06_explore.ipynb", as_version=4)
    tools = [c for c in nb.cells if c.cell_type == "code" and "explore.show_tool" in c.source]
    mimes = [k for c in tools for o in c.get("outputs", []) for k in o.get("data", {})]
    assert len(tools) == 3
    assert mimes.count("image/png") >= 3
    assert "application/vnd.jupyter.widget-view+json" not in mimes
    table = next(c for c in nb.cells if "explorer.f1_table()" in c.source)
    assert any("text/html" in o.get("data", {}) for o in table.outputs)  # the F1 table, as in static mode


def test_batch_runs_show_static_figures_in_00_03_05(suite_run):
    """The runner gives widgets=False to notebooks that declare it (unless the config sets it): their
    tools are static figures in the executed notebooks, with no widget view left behind.
    """
    import nbformat

    run = json.loads((suite_run / "run.json").read_text())
    params = {n["notebook"]: n["parameters"] for n in run["notebooks"]}
    for name in ("00_data_check.ipynb", "03_ssc_evaluation.ipynb", "05_map_survey.ipynb"):
        assert params[name]["widgets"] is False
        nb = nbformat.read(suite_run / name, as_version=4)
        tools = [c for c in nb.cells if c.cell_type == "code" and "explore.show_tool" in c.source]
        mimes = [k for c in tools for o in c.get("outputs", []) for k in o.get("data", {})]
        assert tools
        assert "application/vnd.jupyter.widget-view+json" not in mimes
        assert "image/png" in mimes
    assert params["06_explore.ipynb"]["widgets"] is True
    assert (suite_run / "data_check" / "tile_browser.png").stat().st_size > 5_000
    assert (suite_run / "ssc" / "Tiles_CNN_tiny.png").stat().st_size > 5_000


def test_notebook_07_adapts_the_model_and_compares(suite_run):
    from sscnb import labels
    from sscnb.data._classes import ClassScheme
    from sscnb.provenance import file_sha256

    ad = suite_run / "adapt"
    sample_labels = SAMPLE / "NewRiver" / "tile_labels.csv"
    work = labels.read_tile_labels(ad / "tile_labels.csv", ClassScheme.default(), 50)
    pd.testing.assert_frame_equal(work, labels.read_tile_labels(sample_labels, ClassScheme.default(), 50))
    adapted = modelfiles.load_model(ad / "cnn_adapted.keras")
    lin = adapted.card["lineage"]
    assert lin["parent_sha256"] == file_sha256(suite_run / "model" / "tiny_cnn.keras")
    assert lin["rivers_added"] == ["Greyrun"]
    assert lin["n_tiles_added"] == int((work.class_code > 0).sum())
    assert lin["replayed_tiles"] > 0
    assert lin["epochs"] == 2
    assert set(adapted.key.rivers) == {"Clearwater", "Muddyford", "Greyrun"}
    table = pd.read_csv(ad / "before_after_tiny.csv")
    assert sorted(zip(table.image, table.model, strict=True)) == [
        ("Greyrun_0001", "after"),
        ("Greyrun_0001", "before"),
        ("Greyrun_0002", "after"),
        ("Greyrun_0002", "before"),
    ]
    assert table.f1_final.between(0, 1).all()
    assert table.phase2.notna().all()
    assert table.why.notna().all()
    # user labels train and judge phase 2 on the labelled image only
    assert (table[table.image == "Greyrun_0001"].labelled_tiles == 38).all()
    after = table[table.model == "after"].set_index("image").why
    assert "of your labelled pixels, held out" in after["Greyrun_0001"]
    before = table[table.model == "before"].set_index("image").why
    assert "held-out tiles" in before["Greyrun_0001"]  # the parent's map, as the user had it: no labels
    assert table[table.image == "Greyrun_0002"].why.str.contains("held-out tiles").all()
    for name in ("Greyrun_0001", "Greyrun_0002"):
        assert (ad / f"before_after_{name}.png").stat().st_size > 10_000
    assert (ad / "tile_labels.png").exists()


def test_notebook_08_estimates_areas_with_intervals(suite_run):
    from sscnb.assess._estimate import ESTIMATE_COLUMNS, POINT_COLUMNS

    d = suite_run / "assess"
    pts = pd.read_csv(d / "points.csv")
    assert list(pts.columns) == POINT_COLUMNS
    assert len(pts) == 200
    assert pts.map_class.value_counts().min() >= 30
    assert (d / "points.gpkg").exists()
    assert json.loads((d / "sample.json").read_text())["n"] == 200
    est = pd.read_csv(d / "estimates.csv")
    assert list(est.columns[:10]) == ESTIMATE_COLUMNS
    assert est.class_code.iloc[-1] == "overall"
    assert est.users_accuracy.iloc[-1] > 0.5
    assert (est.estimated_area >= 0).all()
    assert (d / "areas.png").stat().st_size > 10_000
    nb = (suite_run / "08_accuracy_and_areas.ipynb").read_text()
    assert "on unlabelled pixels (or outside it) dropped" in nb
    assert "overall accuracy" in nb


def test_executed_notebooks_hold_no_bare_paths_and_no_tensorflow_start_up_lines(suite_run):
    """No ``PosixPath('...')`` cell results and no TensorFlow C++ start-up lines: students read both as errors."""
    assert notebook_noise(suite_run) == []


# -- the documentation site, built from this run's notebooks (make docs) ------------------------------


@pytest.fixture(scope="module")
def docs_site(suite_run, tmp_path_factory):
    """``make docs``'s build (Sphinx with -W: a warning fails it) of the site with this run's notebooks."""
    import os
    import subprocess
    import sys

    from conftest import REPO

    pytest.importorskip("sphinx", reason="the docs tools are in the test extra: make install-test")
    out = tmp_path_factory.mktemp("site") / "html"
    r = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", "docs", str(out)],
        cwd=REPO,
        env={**os.environ, "SSCNB_DOCS_RUN": str(suite_run)},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert r.returncode == 0, f"make docs failed:\n{(r.stdout + r.stderr)[-4000:]}"
    return out


def _html(path):
    return path.read_text(encoding="utf-8")


def test_docs_site_has_every_public_name(docs_site):
    """Each name of each public module's __all__ has its entry in the API reference, under its own module."""
    import sys

    from conftest import REPO

    sys.path.insert(0, str(REPO / "docs" / "_ext"))
    import docsite

    pages = "".join(_html(p) for p in (docs_site / "api").glob("*.html"))
    missing = []
    for module in docsite.public_modules():
        own, elsewhere = docsite.module_names(module)
        missing += [f"sscnb.{module}.{n}" for n, _ in own if f'id="sscnb.{module}.{n}"' not in pages]
        missing += [f"{home}.{n}" for n, home in elsewhere if f'id="{home}.{n}"' not in pages]
    assert missing == []


def test_docs_site_shows_every_notebook_with_a_figure_and_the_run(docs_site, suite_run):
    run = json.loads((suite_run / "run.json").read_text())
    for entry in run["notebooks"]:
        page = docs_site / "notebooks" / entry["notebook"].replace(".ipynb", ".html")
        assert page.is_file(), page
        assert "<img" in _html(page), f"{page.name} shows no figure"
    index = _html(docs_site / "notebooks" / "index.html")
    assert f'experiment <code class="docutils literal notranslate"><span class="pre">{run["experiment"]}</span>' in index


def test_docs_site_has_no_broken_internal_link(docs_site):
    """Every relative href and src of every page points at a file of the site, and its #anchor at an id there."""
    import re
    from urllib.parse import unquote, urlsplit

    ids: dict = {}
    broken = []
    # the theme's own templates (_static/*.html) and the page sources are not pages of the site
    pages = sorted(p for p in docs_site.rglob("*.html") if p.relative_to(docs_site).parts[0] not in ("_static", "_sources"))
    for page in pages:
        for m in re.finditer(r'(?:href|src)="([^"]+)"', _html(page)):
            url = m.group(1)
            parts = urlsplit(url)
            if parts.scheme or url.startswith(("//", "mailto:", "javascript:")):
                continue
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append(f"{page.relative_to(docs_site)}: {url}")
                continue
            if parts.fragment and target.suffix == ".html":
                if target not in ids:
                    ids[target] = set(re.findall(r'\bid="([^"]+)"', _html(target)))
                if unquote(parts.fragment) not in ids[target]:
                    broken.append(f"{page.relative_to(docs_site)}: {url} (no such anchor)")
    assert len(pages) > 30
    assert broken == []


@pytest.mark.browser
def test_docs_site_in_chromium_screenshots(docs_site):
    """The home page, a notebook page with a map and an API page, opened from the file system in Chromium;
    their screenshots are kept in outputs/browser_test/ to look at.
    """
    from conftest import CHROMIUM_FLAGS, REPO, chromium_path

    chromium = chromium_path()
    from playwright.sync_api import sync_playwright

    shots = REPO / "outputs" / "browser_test"
    shots.mkdir(parents=True, exist_ok=True)
    pages = {
        "docs_home.png": ("index.html", "sscnb"),
        "docs_notebook_05.png": ("notebooks/05_map_survey.html", "05"),
        "docs_api_maps.png": ("api/maps.html", "sscnb.maps"),
    }
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            for png, (rel, text) in pages.items():
                page.goto((docs_site / rel).as_uri())
                page.wait_for_load_state("load")
                assert text in page.locator("main").inner_text(), rel
                images = page.locator("main img")
                for i in range(images.count()):  # every figure loaded (a broken one has no natural width)
                    assert images.nth(i).evaluate("i => i.complete && i.naturalWidth > 0"), f"{rel}: image {i} did not load"
                if "notebook" in png:  # the page's first figure: notebook 05's map
                    images.first.scroll_into_view_if_needed()
                page.screenshot(path=str(shots / png), full_page=False)
        finally:
            browser.close()
    assert all((shots / png).stat().st_size > 10_000 for png in pages)
