"""Mapping surveys: georeferencing round trips, windowed == in memory, areas, polygons, resume,
bad inputs. The CNN is a hand-made colour rule (no training), so every test is fast and exact.
"""

import functools
import json
import os
import re
import shutil
from itertools import pairwise

import numpy as np
import pandas as pd
import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.transform import Affine, from_origin
from rasterio.windows import Window

from conftest import SAMPLE
from sscnb import ssc
from sscnb.batch import _tasks as batch
from sscnb.data import _geo as geo
from sscnb.data._classes import DEFAULT_CLASSES
from sscnb.maps import _batch as mapping
from sscnb.maps import _files as mapfiles
from sscnb.maps import _raster as mapraster
from sscnb.pipeline import _strips as _strips
from sscnb.synthetic import ORTHO_CRS, ORTHO_PIXEL_M, make_orthomosaic

ORTHO = SAMPLE / "Survey" / "Clearwater_ortho.tif"
FAST = dict(mlp_epochs=4, mlp_batch_size=256, min_sample=3000, n_trees=10, min_agreement=0.0)


@pytest.fixture
def model(colour_cnns):
    return colour_cnns(16)


@pytest.fixture(scope="module")
def ortho_arrays():
    with rasterio.open(ORTHO) as ds:
        a = ds.read()
    return np.ascontiguousarray(np.moveaxis(a[:3], 0, -1)), a[3] > 0


def read1(path):
    with rasterio.open(path) as ds:
        return ds.read(1)


# -- windowed equals in memory ----------------------------------------------------------------


# with the MLP, a map in windows and one in memory take over 5 s on 2 cores
@pytest.mark.parametrize(
    "phase2", [pytest.param("mlp", marks=pytest.mark.slow), "rf", pytest.param("mlp_rf", marks=pytest.mark.slow)]
)
def test_windowed_map_equals_in_memory_map(model, ortho_arrays, tmp_path, phase2):
    rgb, valid = ortho_arrays
    p = ssc.SSCParams(phase2=phase2, **FAST)
    mem = ssc.classify_image(rgb, model, p, mask=valid)
    # strips of 48 rows (3 tile rows): 15 strips, each with a 5-row halo
    res = mapping.map_inputs([ORTHO], model, tmp_path, "w", p, window_mpx=0.05, progress=False)[0]
    final, cnn_map = read1(res.files["final"]), read1(res.files["cnn"])
    np.testing.assert_array_equal(cnn_map, mem.cnn_map)
    np.testing.assert_array_equal(final, mem.final_map)
    assert set(np.unique(final[valid])) == {1, 2, 3}  # all three classes, no unclassified
    assert (final[~valid] == 0).all()
    assert (cnn_map[~valid] == 0).all()
    # one window for the whole image gives the same map again
    res1 = mapping.map_inputs([ORTHO], model, tmp_path / "one", "w", p, window_mpx=100, progress=False)[0]
    np.testing.assert_array_equal(read1(res1.files["final"]), final)


def test_tta_reaches_phase_1_in_memory_and_windowed(model, ortho_arrays, tmp_path, monkeypatch):
    from sscnb.cnn import _files as modelfiles

    seen = []
    real = modelfiles.predict_tiles

    def spy(m, x, batch_size=None, tta=False):
        seen.append(tta)
        return real(m, x, batch_size, tta)

    monkeypatch.setattr(modelfiles, "predict_tiles", spy)
    rgb, valid = ortho_arrays
    p = ssc.SSCParams(phase2="rf", tta=True, **FAST)
    mem = ssc.classify_image(rgb, model, p, mask=valid)
    assert seen
    assert all(seen)
    seen.clear()
    res = mapping.map_inputs([ORTHO], model, tmp_path, "w", p, window_mpx=0.05, progress=False)[0]
    assert seen
    assert all(seen)
    np.testing.assert_array_equal(read1(res.files["cnn"]), mem.cnn_map)
    assert json.loads(res.files["manifest"].read_text())["recipe"]["settings"]["tta"] is True


@pytest.mark.parametrize(
    ("features", "last", "phase2"),
    [
        ("multiscale", "median RGB + multiscale", "rf"),
        # the CNN's bands too: about 5 s on 2 cores
        pytest.param("multiscale_cnn", "median RGB + multiscale + CNN", "rf", marks=pytest.mark.slow),
        # every pixel through the MLP in blocks and the forest stopped early (sscnb.phase2.forest_codes)
        pytest.param("multiscale", "median RGB + multiscale", "mlp_rf", marks=pytest.mark.slow),
    ],
)
def test_windowed_map_with_multiscale_features_equals_in_memory_map(model, ortho_arrays, tmp_path, features, last, phase2):
    """The multiscale bands reach 48 px: strips of 48 rows read with that halo give the in-memory
    map, and the scratch files hold all 27 bands. The CNN's bands come from the whole image's tile
    grid, whichever strip the tiles were classified in: the same map again.
    """
    rgb, valid = ortho_arrays
    p = ssc.SSCParams(phase2=phase2, features=features, **FAST)
    mem = ssc.classify_image(rgb, model, p, mask=valid)
    res = mapping.map_inputs([ORTHO], model, tmp_path, "w", p, window_mpx=0.05, progress=False)[0]
    np.testing.assert_array_equal(read1(res.files["final"]), mem.final_map)
    manifest = json.loads(res.files["manifest"].read_text())
    assert manifest["recipe"]["settings"]["features"] == features  # recorded with the results
    assert manifest["info"]["phase2_choice"] == mem.info["phase2_choice"]
    assert set(manifest["info"]["agreement"]) == {"median RGB", last}
    assert manifest["info"]["phase2_choice"].endswith(last)  # what these maps test
    assert manifest["info"]["phase2_bands"] == {"multiscale": 27, "multiscale_cnn": 35}[features]


@pytest.mark.slow  # the MLP case takes 6-10 s on 2 cores beside another worker: over the fast set's 5 s
@pytest.mark.parametrize("phase2", ["mlp", "rf"])
def test_parallel_and_pipelined_paths_equal_the_serial_path(model, tmp_path, monkeypatch, phase2):
    """All cores, median blocks of 16 rows, the next strip read and this strip's features computed
    while its tiles are classified, the strip before written to the scratch files meanwhile,
    fixed-shape prediction batches and the CNN map written beside the fit, against one thread,
    one median block per band, every step in turn in one thread and batches of 7 tiles (most of
    them padded): the same maps, confidence and areas. The parallel run's median is the
    accelerator's (in keras.ops, here on the CPU), as on a GPU machine; the serial run's is the
    compiled CPU filter. Run on Keras's JAX backend, the confidence agrees within 1e-5: there each
    batch size is an XLA program of its own.
    """
    from sscnb.cnn._keras import _keras
    from sscnb.phase2 import _features as features

    p = ssc.SSCParams(phase2=phase2, **FAST)

    def serial_reads(strips, read):  # the strips read one after the other, nothing in the background
        for y0, y1 in strips:
            yield y0, y1, read(y0, y1), 0.0

    with monkeypatch.context() as m:
        m.setenv("SSCNB_THREADS", "1")
        m.setenv("SSCNB_MEDIAN", "cpu")
        m.setenv("SSCNB_PREDICT_BATCH", "7")
        m.setattr(features, "BLOCK_ROWS", 100_000)
        m.setattr(_strips, "read_ahead", serial_reads)
        m.setattr(mapraster, "overlap_features", lambda: False)
        m.setattr(_strips, "Background", functools.partial(_strips.Background, threaded=False))
        serial = mapping.map_inputs([ORTHO], model, tmp_path / "serial", "s", p, window_mpx=0.05, progress=False)[0]
    with monkeypatch.context() as m:
        m.setenv("SSCNB_THREADS", "4")
        m.setenv("SSCNB_MEDIAN", "accelerator")
        m.setenv("SSCNB_PREDICT_BATCH", "256")
        m.setattr(features, "BLOCK_ROWS", 16)
        m.setattr(mapraster, "overlap_features", lambda: True)  # as on a GPU machine
        parallel = mapping.map_inputs([ORTHO], model, tmp_path / "parallel", "s", p, window_mpx=0.05, progress=False)[0]
    # the CNN map was written beside the fit in the parallel run, in turn in the serial one
    assert set(parallel.timings) - set(serial.timings) == {"cnn_map_wait"}
    assert set(serial.timings) - set(parallel.timings) == {"cnn_map"}
    assert parallel.info == serial.info  # the input check's tile statistics, the classes, phase 2's choice
    for kind in ("final", "cnn"):
        np.testing.assert_array_equal(read1(parallel.files[kind]), read1(serial.files[kind]), err_msg=kind)
    confidence = read1(parallel.files["confidence"]), read1(serial.files["confidence"])
    if _keras().backend.backend() == "tensorflow":
        np.testing.assert_array_equal(*confidence)
    else:  # (the tests may run on JAX:) XLA compiles each batch size to its own program, summing in its own order
        np.testing.assert_allclose(*confidence, rtol=0, atol=1e-5)
    pd.testing.assert_frame_equal(pd.read_csv(parallel.files["areas"]), pd.read_csv(serial.files["areas"]))


def test_strips_cover_the_image_in_whole_tile_rows():
    s = _strips.strips(1000, 2000, 50, 0.25)  # 125 rows -> 100 (2 tile rows)
    assert s[0] == (0, 100)
    assert s[-1][1] == 1000
    assert all(b == c for (_, b), (c, _) in pairwise(s))
    assert all(a % 50 == 0 for a, _ in s)
    s = _strips.strips(1030, 200, 50, 100)  # one strip, margin included
    assert s == [(0, 1030)]


def test_nodata_is_never_classified_nor_trained_on(model, ortho_arrays, tmp_path):
    rgb, valid = ortho_arrays
    # paint the no-data area bright blue: were it used, water would appear outside the flown area
    path = tmp_path / "blue_border.tif"
    with rasterio.open(ORTHO) as src:
        prof = src.profile
        a = src.read()
    a[2][~valid] = 255
    with rasterio.open(path, "w", **prof) as dst:
        dst.write(a)
    res = mapping.map_inputs([path], model, tmp_path / "out", "nd", ssc.SSCParams(phase2="rf", **FAST), progress=False)[0]
    final = read1(res.files["final"])
    assert (final[~valid] == 0).all()
    ref = mapping.map_inputs([ORTHO], model, tmp_path / "ref", "nd", ssc.SSCParams(phase2="rf", **FAST), progress=False)[0]
    np.testing.assert_array_equal(final, read1(ref.files["final"]))


# -- GIS-ready output --------------------------------------------------------------------------


def test_outputs_are_cogs_with_the_inputs_georeferencing(model, tmp_path):
    res = mapping.map_inputs([ORTHO], model, tmp_path, "geo", ssc.SSCParams(phase2="rf", **FAST), progress=False)[0]
    with rasterio.open(ORTHO) as src:
        crs, transform, shape = src.crs, src.transform, src.shape
    assert crs == CRS.from_string(ORTHO_CRS)
    for key in ("final", "cnn"):
        path = res.files[key]
        assert path.name == f"Clearwater_ortho_geo_{'RF' if key == 'final' else 'CNN'}.tif"
        with rasterio.open(path) as ds:
            assert ds.crs == crs
            assert ds.transform == transform
            assert ds.shape == shape
            assert ds.count == 1
            assert ds.dtypes[0] == "uint8"
            assert ds.nodata == 0
            assert ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
            assert ds.profile["tiled"]
            assert ds.profile["compress"] == "deflate"
            assert ds.overviews(1), "internal overviews"
            cmap = ds.colormap(1)
        for c in DEFAULT_CLASSES.labelled_codes:
            assert "#{:02x}{:02x}{:02x}".format(*cmap[c][:3]) == DEFAULT_CLASSES.colour(c).lower()
        assert mapfiles.read_category_names(path) == [DEFAULT_CLASSES.name(c) for c in range(6)]
        qml = path.with_suffix(".qml").read_text()
        assert 'label="water"' in qml
        assert DEFAULT_CLASSES.colour(1) in qml
    with rasterio.open(res.files["confidence"]) as ds:  # one pixel per 16 px tile
        assert ds.transform == transform @ Affine.scale(16)
        assert ds.crs == crs
        conf = ds.read(1)
        assert ds.shape == (720 // 16, 960 // 16)
        assert ds.nodata == -1
        assert conf.max() <= 1
        assert (conf[conf >= 0] >= 1 / 3 - 1e-6).all()
    assert not list(tmp_path.glob(".tmp_*")), "no temporary file left"


def test_overviews_are_resampled_by_mode(tmp_path):
    info = geo.SurveyRaster(
        tmp_path / "x.tif", 1024, 1024, 3, CRS.from_epsg(32619), from_origin(0, 1024, 1, 1), True, None, "test"
    )
    m = np.full((1024, 1024), 3, np.uint8)
    m[::2, ::2] = 1  # in every 2 x 2 block the top-left pixel is water: nearest would pick it, mode never
    with mapfiles.ClassMapWriter(tmp_path / "m.tif", info, DEFAULT_CLASSES) as w:
        w.write(Window(0, 0, 1024, 1024), m)
    with rasterio.open(tmp_path / "m.tif") as ds:
        assert ds.overviews(1)[0] == 2
        ov = ds.read(1, out_shape=(512, 512))
    assert (ov == 3).all()


def test_the_cog_is_made_on_the_cores_sscnb_is_given_up_to_a_bound(tmp_path, monkeypatch):
    """--threads N and a Dask worker's share (SSCNB_THREADS) hold for the COG too, not every core; and
    never more than COG_THREADS, as GDAL's overviews take memory per thread.
    """
    import rasterio.shutil

    info = geo.SurveyRaster(tmp_path / "x.tif", 64, 64, 3, CRS.from_epsg(32619), from_origin(0, 64, 1, 1), True, None, "t")
    asked = []
    real_copy = rasterio.shutil.copy

    def copy(src, dst, **kw):
        asked.append(kw["NUM_THREADS"])
        return real_copy(src, dst, **kw)

    monkeypatch.setattr(rasterio.shutil, "copy", copy)
    monkeypatch.setattr(mapfiles, "COG_THREADS", 4)
    for threads in ("1", "3", "16", None):
        if threads is None:
            monkeypatch.delenv("SSCNB_THREADS", raising=False)
        else:
            monkeypatch.setenv("SSCNB_THREADS", threads)
        with mapfiles.ClassMapWriter(tmp_path / f"m{threads}.tif", info, DEFAULT_CLASSES) as w:
            w.write(Window(0, 0, 64, 64), np.ones((64, 64), np.uint8))
        assert read1(tmp_path / f"m{threads}.tif").min() == 1
    assert asked == ["1", "3", "4", str(min(os.cpu_count() or 1, 4))]


def test_areas_in_square_metres_and_pixels(model, tmp_path):
    res = mapping.map_inputs([ORTHO], model, tmp_path, "a", ssc.SSCParams(phase2="rf", **FAST), progress=False)[0]
    final = read1(res.files["final"])
    areas = pd.read_csv(res.files["areas"])
    for _, row in areas.iterrows():
        n = int((final == row.code).sum())
        assert row.pixels == n
        assert row.area_m2 == pytest.approx(n * ORTHO_PIXEL_M**2)
        assert row.area_ha == pytest.approx(n * ORTHO_PIXEL_M**2 / 1e4)
    assert areas.percent.sum() == pytest.approx(100)
    # no projected CRS: pixels only
    info = geo.SurveyRaster(tmp_path / "p.png", 10, 10, 3, None, Affine.identity(), False, None, "none")
    t = geo.area_table({1: 30, 3: 70}, DEFAULT_CLASSES, info)
    assert "area_m2" not in t
    assert list(t.pixels[:3]) == [30, 0, 70]
    assert t.percent[0] == 30
    # feet: a 2 ft pixel is (2 * 0.3048)^2 m2
    ft = geo.SurveyRaster(tmp_path / "f.tif", 10, 10, 3, CRS.from_epsg(2263), from_origin(0, 0, 2, 2), True, None, "")
    assert geo.pixel_area_m2(ft) == pytest.approx((2 * 0.3048006096) ** 2, rel=1e-6)


def test_polygons_with_sieve_class_names_and_areas(tmp_path):
    """A hand-made map: two rectangles and a 2-px speck, 0.5 m pixels."""
    from sscnb.maps._vectors import polygonize_map

    m = np.zeros((40, 60), np.uint8)
    m[:20, :] = 1  # water: 20 x 60 px = 1200 px = 300 m2
    m[20:40, :30] = 3  # green: 20 x 30 px = 150 m2
    m[20:40, 30:] = 2  # sediment: 150 m2 before the speck
    m[30, 40:42] = 3  # speck: 2 px = 0.5 m2
    info = geo.SurveyRaster(
        tmp_path / "m.tif", 60, 40, 3, CRS.from_epsg(32619), from_origin(400000, 5000000, 0.5, 0.5), True, None, "test"
    )
    with mapfiles.ClassMapWriter(tmp_path / "m.tif", info, DEFAULT_CLASSES) as w:
        w.write(Window(0, 0, 60, 40), m)
    import fiona

    n = polygonize_map(tmp_path / "m.tif", tmp_path / "all.gpkg", DEFAULT_CLASSES, info, min_area=0)
    assert n == 4
    n = polygonize_map(tmp_path / "m.tif", tmp_path / "m.gpkg", DEFAULT_CLASSES, info, min_area=1.0)
    assert n == 3  # the 0.5 m2 speck is absorbed by the sediment around it
    with fiona.open(tmp_path / "m.gpkg") as src:
        assert CRS.from_wkt(src.crs_wkt) == CRS.from_epsg(32619)
        feats = {f["properties"]["class"]: f["properties"] for f in src}
    assert feats["water"]["code"] == 1
    assert feats["water"]["area_m2"] == pytest.approx(300)
    assert feats["dry sediment"]["area_m2"] == pytest.approx(150)
    assert feats["green vegetation"]["area_m2"] == pytest.approx(150)


def test_vectors_option_writes_a_geopackage(model, tmp_path):
    res = mapping.map_inputs(
        [ORTHO], model, tmp_path, "v", ssc.SSCParams(phase2="rf", **FAST), vectors=True, min_polygon_area=0.5, progress=False
    )[0]
    import fiona

    with fiona.open(res.files["vectors"]) as src:
        recs = list(src)
    total = sum(r["properties"]["area_m2"] for r in recs)
    areas = pd.read_csv(res.files["areas"])
    assert total == pytest.approx(areas.area_m2.sum())  # sieving moves area between classes, never loses it
    assert {r["properties"]["class"] for r in recs} <= set(DEFAULT_CLASSES.names)


# -- inputs: world files, plain images, bad inputs -------------------------------------------------


def _write_png_with_world(folder, rgb, prj=True):
    import imageio.v3 as iio

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "frame_017.png"
    iio.imwrite(path, rgb)
    # world file: x pixel size, rotation, rotation, -y pixel size, x and y of the first pixel's centre
    path.with_suffix(".pgw").write_text("0.1\n0\n0\n-0.1\n431000.05\n5343999.95\n")
    if prj:
        path.with_suffix(".prj").write_text(CRS.from_string(ORTHO_CRS).to_wkt())
    return path


def test_world_file_and_prj_give_the_maps_georeferencing(model, ortho_arrays, tmp_path):
    rgb, _ = ortho_arrays
    path = _write_png_with_world(tmp_path / "in", rgb[100:400, 100:500])
    info = geo.open_survey(path)
    assert info.georeferenced
    assert info.crs == CRS.from_string(ORTHO_CRS)
    assert info.transform == from_origin(431000.0, 5344000.0, 0.1, 0.1)
    res = mapping.map_inputs([path], model, tmp_path / "out", "wf", ssc.SSCParams(phase2="rf", **FAST), progress=False)[0]
    with rasterio.open(res.files["final"]) as ds:
        assert ds.transform == info.transform
        assert ds.crs == info.crs
    assert pd.read_csv(res.files["areas"]).area_m2.sum() == pytest.approx(300 * 400 * 0.01)


def test_world_file_without_crs_is_refused_with_the_fix(ortho_arrays, tmp_path):
    rgb, _ = ortho_arrays
    path = _write_png_with_world(tmp_path, rgb[:100, :100], prj=False)
    with pytest.raises(geo.SurveyError, match=r"frame_017\.pgw.*no CRS.*frame_017\.prj"):
        geo.open_survey(path)


def test_plain_image_maps_in_pixel_coordinates(model, ortho_arrays, tmp_path):
    import imageio.v3 as iio

    rgb, _ = ortho_arrays
    iio.imwrite(tmp_path / "IMG_0001.jpg", rgb[200:500, 200:600], quality=95)
    info = geo.open_survey(tmp_path / "IMG_0001.jpg")
    assert not info.georeferenced
    assert "not georeferenced" in info.describe()
    res = mapping.map_inputs(
        [tmp_path / "IMG_0001.jpg"], model, tmp_path / "out", "px", ssc.SSCParams(phase2="rf", **FAST), progress=False
    )[0]
    areas = pd.read_csv(res.files["areas"])
    assert "area_m2" not in areas
    assert areas.pixels.sum() == 300 * 400


def _write_tif(path, arr, **kw):
    arr = np.asarray(arr)
    if arr.ndim == 2:
        arr = arr[None]
    prof = dict(
        driver="GTiff",
        width=arr.shape[2],
        height=arr.shape[1],
        count=arr.shape[0],
        dtype=arr.dtype,
        crs=ORTHO_CRS,
        transform=from_origin(431000, 5344000, 0.05, 0.05),
        **kw,
    )
    with rasterio.open(path, "w", **prof) as ds:
        ds.write(arr)
    return path


def test_bad_inputs_are_refused_before_anything_is_written(model, tmp_path):
    p16 = _write_tif(tmp_path / "ortho16.tif", np.zeros((3, 64, 64), np.uint16))
    with pytest.raises(geo.SurveyError, match=r"ortho16\.tif is uint16 \(16-bit\).*gdal_translate -ot Byte"):
        mapping.map_inputs([p16], model, tmp_path / "out", "bad", progress=False)
    dem = _write_tif(tmp_path / "dem.tif", np.zeros((64, 64), np.uint8))
    with pytest.raises(geo.SurveyError, match=r"dem\.tif has 1 band.*RGB"):
        mapping.map_inputs([dem], model, tmp_path / "out", "bad", progress=False)
    small = _write_tif(tmp_path / "tiny.tif", np.zeros((3, 10, 40), np.uint8))
    with pytest.raises(geo.SurveyError, match=r"tiny\.tif is 40 x 10 px, smaller than one 16 px tile"):
        mapping.map_inputs([small], model, tmp_path / "out", "bad", progress=False)
    with pytest.raises(geo.SurveyError, match="does not exist"):
        mapping.map_inputs([tmp_path / "nope.tif"], model, tmp_path / "out", "bad", progress=False)
    cut = tmp_path / "cut_short.tif"  # an interrupted copy: GDAL's reason, and the fix
    cut.write_bytes(ORTHO.read_bytes()[:300_000])
    with pytest.raises(
        geo.SurveyError,
        match=r"cut_short\.tif cannot be read at its last pixel: .*TIFFReadEncodedTile"
        r"\(\) failed\. The file is cut short or damaged.*copy or export it again",
    ):
        mapping.map_inputs([cut], model, tmp_path / "out", "bad", progress=False)
    # a good input listed with a bad one: the good one is not mapped either (checks come first)
    with pytest.raises(geo.SurveyError):
        mapping.map_inputs([ORTHO, p16], model, tmp_path / "out", "bad", progress=False)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    with pytest.raises(geo.SurveyError, match="smallest_element"):
        mapping.map_inputs([ORTHO], model, tmp_path / "out", "bad", ssc.SSCParams(smallest_element=10))


def test_a_model_of_another_tile_size_maps_on_its_own_grid(tmp_path, ortho_arrays, colour_cnns):
    m40 = colour_cnns(40)
    rgb, valid = ortho_arrays
    res = mapping.map_inputs(
        [ORTHO], m40, tmp_path / "out", "t40", ssc.SSCParams(phase2="rf", **FAST), window_mpx=0.1, progress=False
    )[0]
    cnn_map = read1(res.files["cnn"])
    blocks = cnn_map[:720, :960].reshape(18, 40, 24, 40)
    # each 40 px tile is one class, or 0 where it touches no-data
    assert (blocks == blocks[:, :1, :, :1]).all()
    with rasterio.open(res.files["confidence"]) as ds:
        assert ds.shape == (18, 24)


def test_folder_inputs_skip_labels_and_report_them(tmp_path):
    shutil.copy(ORTHO, tmp_path / "a.tif")
    (tmp_path / "SCLS_a.tif").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("x")
    paths, skipped = mapping.resolve_inputs(tmp_path)
    assert [p.name for p in paths] == ["a.tif"]
    assert any("SCLS_a.tif" in s and "label" in s for s in skipped)
    assert any("notes.txt" in s for s in skipped)
    (tmp_path / "b").mkdir()
    shutil.copy(ORTHO, tmp_path / "b" / "a.tif")
    with pytest.raises(geo.SurveyError, match="same name"):
        mapping.resolve_inputs([tmp_path / "a.tif", tmp_path / "b" / "a.tif"])
    paths, _ = mapping.resolve_inputs(str(tmp_path / "*.tif"))
    assert [p.name for p in paths] == ["a.tif", "SCLS_a.tif"][:1]


# -- resume --------------------------------------------------------------------------------------


def test_resume_skips_refuses_or_redoes(model, tmp_path):
    p = ssc.SSCParams(phase2="rf", **FAST)
    res = mapping.map_inputs([ORTHO], model, tmp_path, "r", p, progress=False)[0]
    stamp = {k: f.stat().st_mtime_ns for k, f in res.files.items()}
    again = mapping.map_inputs([ORTHO], model, tmp_path, "r", p, progress=False)[0]
    assert again.status == "skipped (done)"
    assert {k: f.stat().st_mtime_ns for k, f in res.files.items()} == stamp
    with pytest.raises(batch.ResultsConflictError, match=r"(?s)other inputs or settings.*median_radius: 5 -> 3.*overwrite"):
        mapping.map_inputs([ORTHO], model, tmp_path, "r", ssc.SSCParams(phase2="rf", **FAST, median_radius=3), progress=False)
    redo = mapping.map_inputs(
        [ORTHO], model, tmp_path, "r", ssc.SSCParams(phase2="rf", **FAST, median_radius=3), overwrite=True, progress=False
    )[0]
    assert redo.status == "done"
    man = json.loads(redo.files["manifest"].read_text())
    assert man["recipe"]["settings"]["median_radius"] == 3
    assert man["recipe"]["model"]["sha256"]
    # the profile: how many cores each phase kept busy (CPU seconds per wall second, every thread)
    assert set(man["cores_busy"]) == {"pass1", "fit", "pass2"}
    assert all(0 < v < 4 * (os.cpu_count() or 1) for v in man["cores_busy"].values())
    # and pass 1's seconds per stage, in the thread that ran each (the waits included)
    stages = ("read", "tiles", "tile_stats", "cnn", "features", "scratch", "features_wait", "scratch_wait", "tile_stats_wait")
    assert set(man["profile"]) == {f"pass1_{k}" for k in stages}
    assert all(v >= 0 for v in man["profile"].values())
    assert man["profile"]["pass1_features"] > 0
    assert man["profile"]["pass1_tile_stats"] > 0
    assert man["profile"]["pass1_scratch"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("fail_at", ["pass2", "cog", "areas"])
def test_an_interrupted_map_leaves_nothing_and_resumes_to_the_same_result(model, tmp_path, monkeypatch, fail_at):
    p = ssc.SSCParams(phase2="rf", **FAST)
    ref = mapping.map_inputs([ORTHO], model, tmp_path / "ref", "i", p, window_mpx=0.05, progress=False)[0]

    class Boom(RuntimeError):
        pass

    calls = {"n": 0}
    if fail_at == "pass2":
        orig = mapfiles.ClassMapWriter.write

        def write(self, window, block):
            calls["n"] += 1
            if calls["n"] == 5:
                raise Boom()
            return orig(self, window, block)

        monkeypatch.setattr(mapfiles.ClassMapWriter, "write", write)
    elif fail_at == "cog":
        monkeypatch.setattr(mapfiles.ClassMapWriter, "_finish", lambda self: (_ for _ in ()).throw(Boom()))
    else:
        monkeypatch.setattr(geo, "area_table", lambda *a, **k: (_ for _ in ()).throw(Boom()))
    out = tmp_path / "run"
    from sscnb.batch._tasks import BatchError

    with pytest.raises(BatchError, match=r"1 input\(s\) failed.*\n  - Clearwater_ortho.tif: Boom"):
        mapping.map_inputs([ORTHO], model, out, "i", p, window_mpx=0.05, progress=False)
    left = sorted(f.name for f in out.iterdir()) if out.exists() else []
    assert not [f for f in left if f.startswith(".tmp")], left
    assert not [f for f in left if f.endswith(".json")], "no manifest: the input is not done"
    assert not [f for f in left if f.endswith(("_RF.tif", "_CNN.tif", ".csv"))], "nothing under a final name"
    monkeypatch.undo()
    res = mapping.map_inputs([ORTHO], model, out, "i", p, window_mpx=0.05, progress=False)[0]
    assert res.status == "done"
    for key in ("final", "cnn", "confidence"):
        np.testing.assert_array_equal(read1(res.files[key]), read1(ref.files[key]))
    pd.testing.assert_frame_equal(pd.read_csv(res.files["areas"]), pd.read_csv(ref.files["areas"]))


@pytest.mark.parametrize("where", ["job", "phase 1"])
def test_a_map_interrupted_as_it_starts_leaves_no_scratch_folder(model, tmp_path, monkeypatch, where):
    """QGIS's Cancel and Ctrl-C are a KeyboardInterrupt wherever the map is: as its scratch folder was just made
    (before the job that removes it exists), or in phase 1. Either way nothing is left behind.
    """

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(mapraster, "_RasterSource" if where == "job" else "_phase1", interrupted)
    out = tmp_path / "maps"
    with pytest.raises(KeyboardInterrupt):
        mapraster.map_raster(ORTHO, model, out, "i", ssc.SSCParams(**FAST), progress=False)
    assert not list(out.iterdir())


def test_sample_orthomosaic_is_what_the_generator_makes():
    rgba, label, valid = make_orthomosaic(json.loads((SAMPLE / "manifest.json").read_text())["orthomosaic"]["scene_seed"])
    with rasterio.open(ORTHO) as ds:
        a = np.moveaxis(ds.read(), 0, -1)
        assert ds.crs == CRS.from_string(ORTHO_CRS)
        assert ds.count == 4
    np.testing.assert_array_equal(a, rgba)
    assert 0.5 < valid.mean() < 0.95
    assert not valid[0, 0]
    assert set(np.unique(label[valid])) >= {1, 2, 3}


def test_rgb_geotiff_with_a_nodata_value(model, ortho_arrays, tmp_path):
    """An RGB orthomosaic whose border is marked by the nodata value 0 (no alpha band)."""
    rgb, valid = ortho_arrays
    img = np.where(valid[..., None], np.maximum(rgb, 1), 0).astype(np.uint8)  # valid pixels never all-0
    path = _write_tif(tmp_path / "rgb_nodata.tif", np.moveaxis(img, -1, 0), nodata=0)
    info = geo.open_survey(path)
    assert info.alpha is None
    assert info.count == 3
    with rasterio.open(path) as ds:
        _, v = geo.read_block(ds, info, Window(0, 0, 960, 720))
    np.testing.assert_array_equal(v, valid)
    res = mapping.map_inputs([path], model, tmp_path / "out", "nd", ssc.SSCParams(phase2="rf", **FAST), progress=False)[0]
    final = read1(res.files["final"])
    assert (final[~valid] == 0).all()
    assert (final[valid] > 0).all()


def test_crs_from_aux_xml(tmp_path):
    """A PNG whose georeferencing GDAL keeps in its .aux.xml (as GDAL writes it)."""
    import warnings

    path = tmp_path / "frame.png"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.open(
            path,
            "w",
            driver="PNG",
            width=64,
            height=48,
            count=3,
            dtype="uint8",
            crs=ORTHO_CRS,
            transform=from_origin(431000, 5344000, 0.1, 0.1),
        ) as ds:
            ds.write(np.zeros((3, 48, 64), np.uint8))
    assert path.with_name("frame.png.aux.xml").exists()
    info = geo.open_survey(path)
    assert info.crs == CRS.from_string(ORTHO_CRS)
    assert info.transform == from_origin(431000, 5344000, 0.1, 0.1)


def test_an_output_folder_that_cannot_be_made_is_refused_before_mapping(model, tmp_path):
    from sscnb.layout import OutputFolderError

    (tmp_path / "taken").write_text("a file where the output folder should be")
    with pytest.raises(OutputFolderError, match=r"taken is a file.*choose another output_dir"):
        mapping.map_inputs([ORTHO], model, tmp_path / "taken" / "map", "x", ssc.SSCParams(phase2="rf", **FAST), progress=False)


@pytest.mark.slow  # maps and scores two labelled frames: over 5 s on 2 cores
def test_maps_of_labelled_frames_are_scored_class_by_class(model, tmp_path):
    """Frames mapped from a labelled folder (labels skipped by the mapping) are scored against their
    labels: every class's P/R/F1, the macro and the pixel-weighted F1, for both maps.
    """
    from sscnb.assess import _metrics as metrics
    from sscnb.data._pairs import read_label

    src = SAMPLE / "Validate"
    inputs = sorted(src.glob("Clearwater_*.jpg"))
    p = ssc.SSCParams(**FAST)
    res = mapping.map_inputs(inputs, model, tmp_path, "s", p, progress=False)
    res_ortho = mapping.map_inputs([ORTHO], model, tmp_path / "o", "s", p, progress=False)
    scores = mapping.label_scores(res + res_ortho, DEFAULT_CLASSES)
    assert set(scores.input) == {f.name for f in inputs}  # the orthomosaic has no label beside it
    assert set(scores["map"]) == {"CNN", "MLPRF"}
    lab = read_label(src / "SCLS_Clearwater_0005.tif")
    final = read1(res[0].files["final"])
    want = metrics.class_report(
        lab, final, list(DEFAULT_CLASSES.labelled_codes), {c: DEFAULT_CLASSES.name(c) for c in DEFAULT_CLASSES.codes}
    )
    got = scores[(scores.input == "Clearwater_0005.jpg") & (scores["map"] == "MLPRF")].set_index("class")
    for _, r in want.iterrows():
        assert got.loc[r["class"], "f1_score"] == pytest.approx(r["f1_score"])
    assert got.loc["macro F1", "f1_score"] == pytest.approx(metrics.macro_f1(want))
    assert got.loc["pixel-weighted F1", "f1_score"] == pytest.approx(metrics.weighted_f1(want))
    assert mapping.label_scores(res_ortho, DEFAULT_CLASSES).empty


def test_background_runs_jobs_in_order_and_raises_their_errors():
    import threading

    seen = []
    with _strips.Background("t") as bg:
        for i in range(5):
            bg.submit(lambda i: seen.append((i, threading.current_thread().name)), i)
    assert [i for i, _ in seen] == [0, 1, 2, 3, 4]
    assert all(name.startswith("t") for _, name in seen)  # not the caller's thread

    def fail():
        raise OSError("disk full")

    with _strips.Background("t") as bg:
        bg.submit(fail)
        with pytest.raises(OSError, match="disk full"):
            bg.submit(seen.append, "never")  # waits for the failed job first, and raises its error
    assert "never" not in seen
    in_turn = []
    with _strips.Background("t", threaded=False) as bg:
        bg.submit(lambda: in_turn.append(threading.current_thread().name))
        assert in_turn == [threading.current_thread().name]  # done, in the caller's thread
    bg = _strips.Background("t")
    bg.submit(fail)
    with pytest.raises(OSError, match="disk full"):
        bg.__exit__(None, None, None)  # the end of a with block raises it too


def test_busy_cores_by_hand(monkeypatch):
    """2 CPU seconds in 1 wall second is 2 busy cores; 0.5 in 1 is half a core."""
    clock = {"wall": 10.0, "cpu": 3.0}
    monkeypatch.setattr(mapraster.time, "perf_counter", lambda: clock["wall"])
    monkeypatch.setattr(mapraster.time, "process_time", lambda: clock["cpu"])
    cores = mapraster._BusyCores()
    clock.update(wall=11.0, cpu=5.0)
    cores.lap("both")
    clock.update(wall=12.0, cpu=5.5)
    cores.lap("half")
    assert cores.busy == {"both": 2.0, "half": 0.5}


def test_the_command_line_takes_the_feature_set_and_names_the_choices(model, tmp_path, capsys):
    from sscnb.__main__ import main

    with pytest.raises(SystemExit):
        main(["map", "--model", str(model.path), "--out", str(tmp_path), "--features", "texture", str(ORTHO)])
    err = capsys.readouterr().err  # Python 3.12 drops the quotes around the choices
    choices = r"\(choose from '?median_rgb'?, '?multiscale'?, '?multiscale_cnn'?\)"
    assert re.search(r"--features: invalid choice: 'texture' " + choices, err), err
    out = tmp_path / "ms"
    rc = main(
        ["-q", "map", "--model", str(model.path), "--out", str(out), "--features", "multiscale", "--phase2", "rf"]
        + ["--n_trees", "10", "--min_sample", "3000", "--experiment", "cli", str(ORTHO)]
    )
    assert rc == 0
    manifest = json.loads((out / "Clearwater_ortho_cli_RF.json").read_text())
    assert manifest["recipe"]["settings"]["features"] == "multiscale"


# -- phase 2 from the user's labels --------------------------------------------------------------


def _user_labels(shape):
    """The sample reference's classes in four 40 x 40 px squares: what a user might have drawn."""
    lab = read1(SAMPLE / "Reference" / "Clearwater_ortho_labels.tif")
    keep = np.zeros(shape, bool)
    for r, c in ((60, 60), (60, 300), (300, 120), (420, 420)):
        keep[r : r + 40, c : c + 40] = True
    return np.where(keep & (lab > 0), lab, 0).astype(np.uint8)


def test_windowed_map_with_labels_equals_in_memory_map(model, ortho_arrays, tmp_path):
    """Phase 2 learning from the user's labelled pixels: read in strips, the same map as in memory,
    and the labels recorded in the recipe (other labels are other results).
    """
    from sscnb.labels._csv import LabelError
    from sscnb.phase2._choose import PixelLabels

    rgb, valid = ortho_arrays
    lab = PixelLabels.from_raster(_user_labels(valid.shape))
    p = ssc.SSCParams(phase2="rf", **FAST)
    mem = ssc.classify_image(rgb, model, p, mask=valid, labels=lab)
    assert mem.info["judge"] == "user labels"
    said = []
    res = mapping.map_inputs(
        [ORTHO], model, tmp_path, "w", p, window_mpx=0.05, progress=False, labels={"Clearwater_ortho": lab}, log=said.append
    )[0]
    np.testing.assert_array_equal(read1(res.files["final"]), mem.final_map)
    manifest = json.loads(res.files["manifest"].read_text())
    assert manifest["recipe"]["labels"] == lab.recipe("rf")
    assert manifest["info"]["phase2_choice"] == mem.info["phase2_choice"]
    assert manifest["info"]["label_f1"] == mem.info["label_f1"]
    assert f"Clearwater_ortho: {len(lab):,} labelled px: phase 2 learns from them" in said
    fewer = lab.subset(np.arange(len(lab)) % 2 == 0)
    with pytest.raises(batch.ResultsConflictError, match="labels.sha256"):
        mapping.map_inputs([ORTHO], model, tmp_path, "w", p, progress=False, labels={"Clearwater_ortho": fewer})
    with pytest.raises(LabelError, match=r"\['elsewhere'\], which are not among the images"):
        mapping.map_inputs([ORTHO], model, tmp_path / "x", "w", p, progress=False, labels={"elsewhere": lab})


def test_the_command_line_maps_with_polygons_drawn_in_qgis(model, tmp_path):
    """Sscnb map --labels: polygons in the orthomosaic's CRS, every pixel inside them learnt by phase 2."""
    import fiona

    from sscnb.__main__ import main

    with rasterio.open(ORTHO) as ds:
        transform, crs = ds.transform, ds.crs.to_wkt()
    lab = _user_labels(read1(ORTHO).shape)
    gpkg = tmp_path / "drawn.gpkg"
    schema = {"geometry": "Polygon", "properties": {"klass": "int"}}
    with fiona.open(gpkg, "w", driver="GPKG", crs_wkt=crs, schema=schema, SPATIAL_INDEX="NO") as dst:
        for r, c in ((60, 60), (60, 300), (300, 120), (420, 420)):
            code = int(np.bincount(lab[r : r + 40, c : c + 40].ravel(), minlength=256)[1:].argmax() + 1)
            ring = [transform @ xy for xy in ((c, r), (c + 20, r), (c + 20, r + 20), (c, r + 20), (c, r))]
            dst.write({"geometry": {"type": "Polygon", "coordinates": [ring]}, "properties": {"klass": code}})
    out = tmp_path / "cli"
    rc = main(
        ["-q", "map", "--model", str(model.path), "--out", str(out), "--labels", str(gpkg), "--class-field", "klass"]
        + ["--phase2", "rf", "--n_trees", "10", "--min_sample", "3000", "--experiment", "cli", str(ORTHO)]
    )
    assert rc == 0
    manifest = json.loads((out / "Clearwater_ortho_cli_RF.json").read_text())
    assert manifest["info"]["judge"] == "user labels"
    assert manifest["recipe"]["labels"]["pixels"] == manifest["info"]["labelled_px"] == 4 * 20 * 20
    assert manifest["recipe"]["labels"]["learnt"] is False  # the colour CNN never saw them


def test_maps_of_a_version_before_a_setting_existed_resume(model, tmp_path):
    p = ssc.SSCParams(phase2="rf", **FAST)
    res = mapping.map_inputs([ORTHO], model, tmp_path, "old", p, progress=False)[0]
    man = json.loads(res.files["manifest"].read_text())
    del man["recipe"]["settings"]["label_cnn_share"]
    res.files["manifest"].write_text(json.dumps(man))
    assert mapping.map_inputs([ORTHO], model, tmp_path, "old", p, progress=False)[0].status == "skipped (done)"


def test_maps_of_another_multiscale_set_are_refused_on_resuming(model, tmp_path):
    """The multiscale set grew from 16 bands to 24: maps made before, which record no band count, are other
    results, and a resumed batch refuses them (naming what differs) instead of mixing them with new maps.
    """
    p = ssc.SSCParams(phase2="rf", features="multiscale", **FAST)
    res = mapping.map_inputs([ORTHO], model, tmp_path, "ms", p, progress=False)[0]
    man = json.loads(res.files["manifest"].read_text())
    assert man["recipe"]["multiscale_bands"] == 24
    assert mapping.map_inputs([ORTHO], model, tmp_path, "ms", p, progress=False)[0].status == "skipped (done)"
    del man["recipe"]["multiscale_bands"]  # as the release of 16 bands wrote it
    res.files["manifest"].write_text(json.dumps(man))
    with pytest.raises(batch.ResultsConflictError, match=r"multiscale_bands: None -> 24"):
        mapping.map_inputs([ORTHO], model, tmp_path, "ms", p, progress=False)
