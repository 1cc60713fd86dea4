"""The QGIS plugin run by QGIS itself: ``qgis_process`` lists the ``sscnb:`` algorithms and runs each on the sample data.

Headless (``QT_QPA_PLATFORM=offscreen``), with the plugin on ``QGIS_PLUGINPATH`` and a QGIS profile
of its own under a temporary HOME, so that a user's QGIS settings are neither read nor changed.
Each algorithm's outputs are compared with the sscnb command's own on the same input: the same
classes in the map, a model that loads, the same estimates. Skipped without QGIS, unless
``SSCNB_REQUIRE_QGIS=1`` (set by ``.ci/run``, which installs Debian's QGIS). On Debian, the
``qgis_process`` wrapper adds ``--noversioncheck``, which the 3.22 executable refuses: the
executable ``qgis_process.bin`` is called instead.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, SAMPLE

# NewRiver's images and their maps are plain rasters, with no georeferencing: as expected
pytestmark = [
    pytest.mark.slow,
    pytest.mark.qgis,
    pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning"),
]

sys.path.insert(0, str(REPO / "qgis"))

from sscnb_qgis import sscnb_command as sc  # noqa: E402

SAMPLE_ORTHO = SAMPLE / "Survey" / "Clearwater_ortho.tif"
REFERENCE = SAMPLE / "Reference" / "Clearwater_ortho_labels.tif"
SSCNB = Path(sys.executable).with_name("sscnb")  # this environment's command


def qgis_process_path() -> str:
    """QGIS's qgis_process (Debian's executable behind its wrapper first); skipped without, failed where CI requires it."""
    path = os.environ.get("SSCNB_QGIS_PROCESS") or shutil.which("qgis_process.bin") or shutil.which("qgis_process")
    if path:
        return path
    msg = "QGIS's qgis_process is not installed (Debian: apt-get install --no-install-recommends qgis python3-qgis)"
    if os.environ.get("SSCNB_REQUIRE_QGIS"):
        pytest.fail(msg + " (SSCNB_REQUIRE_QGIS is set, so the QGIS tests must run)")
    pytest.skip(msg)


@pytest.fixture(scope="module")
def ortho(tmp_path_factory) -> Path:
    """The sample orthomosaic, copied: QGIS writes its statistics beside a raster it opens (an .aux.xml)."""
    path = tmp_path_factory.mktemp("survey") / SAMPLE_ORTHO.name
    shutil.copy(SAMPLE_ORTHO, path)
    return path


@pytest.fixture(scope="module")
def qgis(tmp_path_factory):
    """Run ``qgis_process ARGS`` with the plugin enabled in a profile of its own; returns the completed process."""
    exe = qgis_process_path()
    home = tmp_path_factory.mktemp("qgis_home")
    env = {**os.environ, "HOME": str(home), "XDG_RUNTIME_DIR": str(home), "QT_QPA_PLATFORM": "offscreen"}
    env.update(QGIS_PLUGINPATH=str(REPO / "qgis"), SSCNB_COMMAND=str(SSCNB))
    env.pop("XDG_CONFIG_HOME", None)

    def run(*args: str, command_env: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([exe, *args], capture_output=True, text=True, env={**env, **(command_env or {})}, timeout=600)

    enabled = run("plugins", "enable", "sscnb_qgis")
    assert enabled.returncode == 0, enabled.stdout + enabled.stderr
    return run


def run_json(qgis, algorithm: str, **params) -> dict:
    """Run one algorithm; return qgis_process's JSON results (failing with its log when it failed)."""
    done = qgis("--json", "run", algorithm, "--", *(f"{k}={v}" for k, v in params.items()))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(done.stdout)["results"]


def run_fails(qgis, algorithm: str, **params) -> str:
    """Run one algorithm that must fail; return its log."""
    done = qgis("run", algorithm, "--", *(f"{k}={v}" for k, v in params.items()))
    assert done.returncode != 0, done.stdout[-3000:]
    return done.stdout + done.stderr


def read_band(path) -> np.ndarray:
    import rasterio

    with rasterio.open(path) as src:
        return src.read(1)


def polygon_area(geom: dict) -> float:
    """The area of a polygon's outer ring (the shoelace formula)."""
    x, y = np.array(geom["coordinates"][0]).T
    return abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))) / 2


def polygons_from_labels(labels: Path, path: Path, crs: bool = True) -> Path:
    """Polygons as a user draws them over an image: the largest patch of each class of its label raster.

    Over a georeferenced image they are in its CRS (or, with ``crs=False``, in none: a mistake); over a
    plain image in pixel units as QGIS shows it (y = -row), with no CRS.
    """
    import fiona
    import rasterio
    from rasterio.features import shapes
    from rasterio.transform import Affine

    with rasterio.open(labels) as src:
        ref = src.read(1)
        georeferenced = src.crs is not None
        transform = src.transform if georeferenced else Affine(1, 0, 0, 0, -1, 0)
        wkt = src.crs.to_wkt() if georeferenced and crs else None
    best: dict[int, dict] = {}
    for geom, value in shapes(ref, mask=ref > 0, transform=transform):
        if int(value) not in best or polygon_area(geom) > polygon_area(best[int(value)]):
            best[int(value)] = geom
    schema = {"geometry": "Polygon", "properties": {"class_code": "int"}}
    # SPATIAL_INDEX=NO: the SQLite inside fiona's wheels may lack the R*Tree module (as in sscnb.maps)
    with fiona.open(path, "w", driver="GPKG", schema=schema, crs_wkt=wkt, SPATIAL_INDEX="NO") as dst:
        for code, geom in sorted(best.items()):
            dst.write({"geometry": geom, "properties": {"class_code": code}})
    return path


def test_qgis_lists_the_four_algorithms(qgis):
    """The provider loads in QGIS and offers map, adapt, sample and estimate."""
    listed = qgis("list")
    assert listed.returncode == 0, listed.stderr
    for alg in ("sscnb:map", "sscnb:adapt", "sscnb:sample", "sscnb:estimate"):
        assert alg in listed.stdout


def test_map_sample_and_estimate_in_qgis_equal_the_command(qgis, ortho, tmp_path):
    """Map the sample orthomosaic, draw a sample, label it, estimate: each as sscnb's own command gives it."""
    results = run_json(qgis, "sscnb:map", INPUT=ortho, SHIPPED=1, OUTPUT=tmp_path / "qgis")
    direct = tmp_path / "direct"
    subprocess.run(
        [str(SSCNB), "map", "--model", "rivers_compact", "--out", str(direct), "--vectors", str(ortho)],
        check=True,
        capture_output=True,
    )
    assert Path(results["FINAL_MAP"]).name == "Clearwater_ortho_map_MLPRF.tif"
    np.testing.assert_array_equal(read_band(results["FINAL_MAP"]), read_band(direct / "Clearwater_ortho_map_MLPRF.tif"))
    np.testing.assert_array_equal(read_band(results["CNN_MAP"]), read_band(direct / "Clearwater_ortho_map_CNN.tif"))
    for key in ("CONFIDENCE", "POLYGONS", "AREAS"):
        assert Path(results[key]).is_file(), key
    assert results["FINAL_MAPS"] == [results["FINAL_MAP"]]
    assert Path(results["FINAL_MAP"]).with_suffix(".qml").is_file()  # QGIS loads the style with the layer

    sample = run_json(qgis, "sscnb:sample", MAP=results["FINAL_MAP"], N=60, MIN_PER_CLASS=20, OUTPUT=tmp_path / "sample")
    points = Path(sample["POINTS"])
    assert points.name == "points.gpkg"
    assert points.is_file()
    filled = fill_reference_classes(points, tmp_path / "filled.gpkg")

    estimates = run_json(qgis, "sscnb:estimate", MAP=results["FINAL_MAP"], POINTS=filled, OUTPUT=tmp_path / "sample")
    own = tmp_path / "own"
    cmd = [str(SSCNB), "assess", "--map", results["FINAL_MAP"], "--out", str(own), "--points", str(filled)]
    subprocess.run(cmd, check=True, capture_output=True)
    assert read_csv(estimates["ESTIMATES"]) == read_csv(own / "estimates.csv")
    assert read_csv(estimates["ERROR_MATRIX"]) == read_csv(own / "error_matrix.csv")


def fill_reference_classes(points: Path, out: Path) -> Path:
    """What a user does in the attribute table: each point's reference_class, here read from the label raster."""
    import fiona

    ref = read_band(REFERENCE)
    with fiona.open(points) as src:
        schema, crs, feats = src.schema, src.crs, list(src)
    with fiona.open(out, "w", driver="GPKG", schema=schema, crs=crs, SPATIAL_INDEX="NO") as dst:
        for f in feats:
            props = dict(f["properties"])
            props["reference_class"] = int(ref[props["row"], props["col"]])
            dst.write({"geometry": f["geometry"], "properties": props})
    return out


def read_csv(path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_the_graphical_model_adapts_to_polygons_and_maps_with_the_adapted_model(qgis, tmp_path):
    """qgis/models/adapt_then_map.model3: sscnb:adapt on polygons drawn over a new river, its output MODEL the
    Model of sscnb:map, whose phase 2 learns from the same polygons.
    """
    image = tmp_path / "Greyrun_0001.jpg"
    shutil.copy(SAMPLE / "NewRiver" / image.name, image)
    polygons = polygons_from_labels(SAMPLE / "NewRiver" / "SCLS_Greyrun_0001.tif", tmp_path / "polygons.gpkg")
    model3 = REPO / "qgis" / "models" / "adapt_then_map.model3"
    args = [f"images={image}", f"polygons={polygons}", "parent=1", "epochs=1", f"rasters={image}"]
    args += [f"adapt:Adapted model folder={tmp_path / 'adapted'}", f"map:Maps folder={tmp_path / 'maps'}"]
    done = qgis("run", str(model3), "--", *args)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-4000:]
    model = tmp_path / "adapted" / "cnn_adapted.keras"
    card = json.loads((tmp_path / "adapted" / "cnn_adapted_card.json").read_text())
    assert card["lineage"]["parent_model"] == "rivers_compact.keras"
    manifest = json.loads((tmp_path / "maps" / "Greyrun_0001_map_MLPRF.json").read_text())
    assert Path(manifest["recipe"]["model"]["path"]) == model  # the adapted model, passed on by the graphical model
    assert "Greyrun_0001: 336,311 labelled px: phase 2 learns from them" in log
    final = read_band(tmp_path / "maps" / "Greyrun_0001_map_MLPRF.tif")
    assert set(np.unique(final)) <= {1, 2, 3, 4, 5}


def test_bad_inputs_give_one_line_and_write_nothing(qgis, ortho, tmp_path):
    """Polygons with no CRS over a georeferenced image, a class field that does not exist, no sscnb environment."""
    no_crs = polygons_from_labels(REFERENCE, tmp_path / "no_crs.gpkg", crs=False)
    log = run_fails(qgis, "sscnb:adapt", IMAGES=ortho, POLYGONS=no_crs, SHIPPED=1, OUTPUT=tmp_path / "a")
    assert "sscnb adapt: no_crs.gpkg has no CRS but Clearwater_ortho.tif is in EPSG:32619" in log
    assert not (tmp_path / "a").exists()

    polygons = polygons_from_labels(REFERENCE, tmp_path / "polygons.gpkg")
    log = run_fails(qgis, "sscnb:adapt", IMAGES=ortho, POLYGONS=polygons, CLASS_FIELD="klass", OUTPUT=tmp_path / "b")
    assert "the layer polygons has no field 'klass' (it has: fid, class_code)" in log
    assert not (tmp_path / "b").exists()

    missing = {"SSCNB_COMMAND": str(tmp_path / "no_env" / "bin" / "sscnb")}
    done = qgis("run", "sscnb:map", "--", f"INPUT={ortho}", f"OUTPUT={tmp_path / 'c'}", command_env=missing)
    assert done.returncode != 0
    assert (
        f"the environment variable SSCNB_COMMAND names {missing['SSCNB_COMMAND']}, which does not exist"
        in done.stdout + done.stderr
    )
    assert "Processing > Providers > sscnb" in done.stdout + done.stderr
    assert not (tmp_path / "c").exists()


def test_the_zip_installs_into_a_profile_and_runs_the_sscnb_it_names(tmp_path):
    """The zip of make qgis-plugin, unpacked where Install from ZIP puts it: with no setting, no variable and no sscnb on
    PATH, the plugin runs the command written into the zip.
    """
    import zipfile

    import build_plugin  # qgis/, on the path above

    import sscnb

    exe = qgis_process_path()
    plugins = tmp_path / ".local" / "share" / "QGIS" / "QGIS3" / "profiles" / "default" / "python" / "plugins"
    plugins.mkdir(parents=True)
    with zipfile.ZipFile(build_plugin.build(tmp_path / "sscnb_qgis.zip", str(SSCNB))) as z:
        z.extractall(plugins)
    class_map = tmp_path / "labels.tif"
    shutil.copy(REFERENCE, class_map)  # a class raster: what a sample is drawn from
    env = {k: v for k, v in os.environ.items() if k not in ("SSCNB_COMMAND", "QGIS_PLUGINPATH", "XDG_DATA_HOME")}
    env.update(HOME=str(tmp_path), XDG_RUNTIME_DIR=str(tmp_path), QT_QPA_PLATFORM="offscreen", PATH="/usr/bin:/bin")
    for args in (
        ["plugins", "enable", "sscnb_qgis"],
        ["run", "sscnb:sample", "--", f"MAP={class_map}", "N=40", "MIN_PER_CLASS=5", f"OUTPUT={tmp_path / 's'}"],
    ):
        done = subprocess.run([exe, *args], capture_output=True, text=True, env=env, timeout=300)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"sscnb {sscnb.__version__}: {SSCNB}" in done.stdout
    assert (tmp_path / "s" / "points.gpkg").is_file()


def test_cancel_stops_a_survey_and_the_next_run_resumes(tmp_path):
    """The plugin's Cancel, with the real sscnb: the finished image is kept, the next run maps only the rest."""
    images = tmp_path / "images"
    images.mkdir()
    for name in ("a_ortho.tif", "b_ortho.tif"):
        shutil.copy(SAMPLE_ORTHO, images / name)
    out, seen = tmp_path / "maps", []

    def cancel_after_first() -> bool:
        return any(line.startswith("a_ortho.tif: mapped") for line in seen)

    args = ["map", "--model", "rivers_compact", "--out", str(out), str(images)]
    with pytest.raises(sc.SscnbCancelled):
        sc.run_sscnb([str(SSCNB)], args, on_text=seen.append, is_cancelled=cancel_after_first, poll=0.05)
    assert (out / "a_ortho_map_MLPRF.tif").is_file()
    assert not [p for p in out.iterdir() if "b_ortho" in p.name], "a cancelled image leaves nothing behind"
    again: list[str] = []
    sc.run_sscnb([str(SSCNB)], args, on_text=again.append)
    assert "a_ortho.tif: already mapped with this model and these settings, skipped" in again, again
    assert (out / "b_ortho_map_MLPRF.tif").is_file()


def test_the_dialog_and_the_loaded_map_on_a_virtual_screen(ortho, tmp_path):
    """QGIS's window under Xvfb: the Map a survey dialog opens filled in, and the map loads in its sscnb style.

    The pictures are kept in outputs/qgis_test/ (docs/qgis.md shows the same two, made with the sample demo's model).
    """
    qgis_process_path()  # skipped (or failed, where required) without QGIS
    xvfb = shutil.which("xvfb-run")
    if xvfb is None:
        if os.environ.get("SSCNB_REQUIRE_QGIS"):
            pytest.fail("xvfb-run is not installed (Debian: apt-get install xvfb xauth) and SSCNB_REQUIRE_QGIS is set")
        pytest.skip("xvfb-run is not installed (Debian: apt-get install xvfb xauth)")
    out = REPO / "outputs" / "qgis_test"
    shutil.rmtree(out, ignore_errors=True)
    profiles = tmp_path / "profiles"
    (profiles / "profiles" / "default" / "QGIS").mkdir(parents=True)
    (profiles / "profiles" / "default" / "QGIS" / "QGIS3.ini").write_text("[PythonPlugins]\nsscnb_qgis=true\nprocessing=true\n")
    env = {**os.environ, "HOME": str(tmp_path), "XDG_RUNTIME_DIR": str(tmp_path), "QGIS_PLUGINPATH": str(REPO / "qgis")}
    env.update(SSCNB_COMMAND=str(SSCNB), SSCNB_SHOT_INPUT=str(ortho), SSCNB_SHOT_MODEL="", SSCNB_SHOT_OUT=str(out))
    env.pop("QT_QPA_PLATFORM", None)
    qgis_gui = shutil.which("qgis") or "qgis"
    cmd = [xvfb, "-a", "-s", "-screen 0 1400x900x24", qgis_gui, "--profiles-path", str(profiles), "--nologo"]
    done = subprocess.run(
        [*cmd, "--code", str(REPO / "qgis" / "screenshots.py")], env=env, capture_output=True, text=True, timeout=300
    )
    shots = out / "screenshots"
    error = shots / "error.txt"
    assert not error.exists(), error.read_text()
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    layers = (shots / "layers.txt").read_text().splitlines()
    assert "Clearwater_ortho: class map\tpaletted" in layers  # the .qml style sscnb wrote, not GDAL's 256 colours
    assert {"Clearwater_ortho: CNN tile map\tpaletted", "Clearwater_ortho: polygons\tcategorizedSymbol"} <= set(layers)
    import imageio.v3 as iio

    for name, min_width in (("qgis_map_dialog.png", 600), ("qgis_map_loaded.png", 1000)):
        picture = iio.imread(shots / name)
        assert picture.shape[1] >= min_width, name
        assert picture[..., :3].std() > 20, f"{name} is blank"
